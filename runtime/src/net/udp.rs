//! UDP: datagram sockets whose receives park the calling green thread.

use super::addr::{each_addr, ToSocketAddrs};
use super::shared::socket_common;
use crate::io::source::Source;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A UDP socket. `recv_from` and `recv` park until a datagram arrives; sends park only while the
/// socket's send buffer is full.
///
/// # Examples
///
/// ```
/// use greenhub::net::UdpSocket;
/// greenhub::run(|| -> std::io::Result<()> {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     a.send_to(b"ping", b.local_addr()?)?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf)?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     Ok(())
/// })
/// # .unwrap();
/// ```
pub struct UdpSocket {
    inner: Arc<Source<std::net::UdpSocket>>,
}

socket_common!(UdpSocket, std::net::UdpSocket);

impl UdpSocket {
    /// Binds a socket to the first address that works.
    ///
    /// # Errors
    ///
    /// When no address can be bound.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, |addr| {
            UdpSocket::try_from(std::net::UdpSocket::bind(addr)?)
        })
    }

    /// Sends a datagram to the first address `addr` resolves to; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// When `addr` does not resolve, or what sendto(2) reports.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let target = addr.to_socket_addrs()?.into_iter().next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.inner.write_with(|io| io.send_to(buf, target))
    }

    /// Receives a datagram and its sender's address.
    ///
    /// # Errors
    ///
    /// `TimedOut` past the read timeout, or what recvfrom(2) reports.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|io| io.recv_from(buf))
    }

    /// Like [`recv_from`](Self::recv_from), leaving the datagram queued.
    ///
    /// # Errors
    ///
    /// As [`recv_from`](Self::recv_from).
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|io| io.peek_from(buf))
    }

    /// Sets the default destination for [`send`](Self::send) and the only source
    /// [`recv`](Self::recv) accepts.
    ///
    /// # Errors
    ///
    /// When `addr` does not resolve, or what connect(2) reports.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&addr, |addr| self.inner.get_ref().connect(addr))
    }

    /// Sends to the connected address.
    ///
    /// # Errors
    ///
    /// `NotConnected` before [`connect`](Self::connect), or what send(2) reports.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|io| io.send(buf))
    }

    /// Receives from the connected address.
    ///
    /// # Errors
    ///
    /// `TimedOut` past the read timeout, or what recv(2) reports (such as
    /// `ConnectionRefused` after an ICMP port unreachable).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|io| io.recv(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Allows or forbids sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_broadcast(on)
    }

    /// Whether broadcast sends are allowed.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.get_ref().broadcast()
    }
}
