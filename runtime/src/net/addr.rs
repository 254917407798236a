//! Address conversion with host names resolved on the blocking pool, so a slow DNS lookup parks
//! one green thread instead of stalling its hub.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Things that name one or more socket addresses, like [`std::net::ToSocketAddrs`], except that
/// host names are resolved on greenhub's blocking pool (see [`unblock`](crate::unblock)).
///
/// # Examples
///
/// ```
/// use greenhub::net::ToSocketAddrs;
/// let addrs = ("127.0.0.1", 8080).to_socket_addrs().unwrap();
/// assert_eq!(addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
/// ```
pub trait ToSocketAddrs {
    /// The addresses, in the order a connect should try them.
    ///
    /// # Errors
    ///
    /// When a host name cannot be resolved or the text is not an address.
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>>;
}

fn resolve(host_and_port: String) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = host_and_port.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    crate::unblock(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&host_and_port).map(Iterator::collect)
    })
}

fn resolve_pair(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let host = host.to_string();
    crate::unblock(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Iterator::collect)
    })
}

macro_rules! plain_addresses {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {
            fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
                std::net::ToSocketAddrs::to_socket_addrs(self).map(Iterator::collect)
            }
        }
    )*};
}

plain_addresses!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for str {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve(self.to_string())
    }
}

impl ToSocketAddrs for String {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve(self.clone())
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve_pair(self.0, self.1)
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve_pair(&self.0, self.1)
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

/// Runs `f` on each address in turn and returns the first success, or the last error.
pub(crate) fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_error = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
