//! TLS (feature "tls"): certificates made at test time, real sockets on 127.0.0.1:0. A refused
//! certificate, a client that stalls mid-handshake, a reader and a writer at once on one
//! stream, close_notify and a bare hang-up, reads cut short mid-record, and a key update read
//! while the other side writes.

#![cfg(feature = "tls")]

mod common;

use common::within;
use greenhub::net::{TcpListener, TcpStream};
use greenhub::tls::rustls::{self, pki_types::PrivateKeyDer, ClientConfig, ServerConfig};
use greenhub::tls::{TlsAcceptor, TlsConnector, TlsStream};
use greenhub::StreamServer;
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A server certificate for "localhost", self-signed, and configurations on both sides that
/// use it (the client trusts exactly that certificate).
struct Pki {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

fn pki() -> Pki {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Pki {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

/// Small socket buffers, so that a few hundred KiB in flight fill them (loopback's grow to
/// megabytes, which would hide a writer that waits while its reader cannot run).
fn small_buffers(tcp: TcpStream) -> io::Result<TcpStream> {
    let socket = socket2::SockRef::from(&tcp);
    socket.set_send_buffer_size(16 << 10)?;
    socket.set_recv_buffer_size(16 << 10)?;
    Ok(tcp)
}

/// A connected pair: (client, server), the server's handshake run in a green thread.
fn tls_pair(pki: &Pki) -> io::Result<(TlsStream, TlsStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::new(pki.server.clone());
    let server = greenhub::spawn(move || acceptor.accept(small_buffers(listener.accept()?.0)?));
    let tcp = small_buffers(TcpStream::connect(addr)?)?;
    let client = TlsConnector::new(pki.client.clone()).connect("localhost", tcp)?;
    Ok((client, server.join().unwrap()?))
}

/// The byte at `index` of the stream that side `seed` sends: not periodic in any record size.
fn pattern(seed: u64, index: u64) -> u8 {
    let x = (index ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x >> 29) as u8
}

/// Writes `len` bytes of side `seed`'s pattern in pieces of changing sizes, then flushes.
fn send_pattern(mut stream: &TlsStream, seed: u64, len: u64) -> io::Result<()> {
    let mut sent = 0u64;
    let mut piece = 1usize;
    let mut buf = vec![0u8; 70_000];
    while sent < len {
        let n = (piece as u64).min(len - sent) as usize;
        for (i, byte) in buf[..n].iter_mut().enumerate() {
            *byte = pattern(seed, sent + i as u64);
        }
        stream.write_all(&buf[..n])?;
        sent += n as u64;
        piece = (piece * 7 + 13) % buf.len() + 1;
    }
    stream.flush()
}

/// Reads `len` bytes and checks every one against side `seed`'s pattern.
fn expect_pattern(mut stream: &TlsStream, seed: u64, len: u64) -> io::Result<()> {
    let mut got = 0u64;
    let mut buf = vec![0u8; 50_000];
    let mut piece = 3usize;
    while got < len {
        let want = piece.min((len - got) as usize);
        let n = stream.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("ended at {got}"),
            ));
        }
        for (i, &byte) in buf[..n].iter().enumerate() {
            let at = got + i as u64;
            assert_eq!(byte, pattern(seed, at), "byte {at} of side {seed}'s stream");
        }
        got += n as u64;
        piece = (piece * 5 + 11) % buf.len() + 1;
    }
    Ok(())
}

fn inner_rustls_error(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}

#[test]
fn a_client_refuses_a_certificate_it_does_not_trust() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let (real, other) = (pki(), pki());
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::new(real.server.clone());
        let server = greenhub::spawn(move || -> io::Result<Vec<io::Error>> {
            let mut errors = Vec::new();
            for _ in 0..2 {
                let tcp = listener.accept()?.0;
                errors.push(acceptor.accept(tcp).unwrap_err());
            }
            Ok(errors)
        });

        // A client that trusts another certificate.
        let tcp = TcpStream::connect(addr)?;
        let err = TlsConnector::new(other.client.clone())
            .connect("localhost", tcp)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
        assert!(
            matches!(
                inner_rustls_error(&err),
                Some(rustls::Error::InvalidCertificate(_))
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("certificate"), "{err}");

        // A client that trusts it, for another name.
        let tcp = TcpStream::connect(addr)?;
        let err = TlsConnector::new(real.client.clone())
            .connect("example.test", tcp)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
        assert!(
            matches!(
                inner_rustls_error(&err),
                Some(rustls::Error::InvalidCertificate(_))
            ),
            "{err:?}"
        );

        // A name that is none: refused before a byte is sent.
        let tcp = TcpStream::connect(addr)?;
        let err = TlsConnector::new(real.client.clone())
            .connect("not a name!", tcp)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

        // The server learns why from the client's alert (or, at worst, from its hang-up).
        for err in server.join().unwrap()? {
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::InvalidData | ErrorKind::UnexpectedEof
                ),
                "{err:?}"
            );
        }
        Ok(())
    })
}

/// The first bytes of a TLS ClientHello record, and no more: a handshake that never finishes.
const HALF_A_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
];

fn echo_once(stream: TlsStream, _peer: std::net::SocketAddr) {
    let mut buf = [0u8; 64];
    if let Ok(n) = (&stream).read(&mut buf) {
        let _ = (&stream)
            .write_all(&buf[..n])
            .and_then(|()| (&stream).flush());
    }
    let _ = stream.shutdown(Shutdown::Write);
}

fn echo_round_trip(pki: &Pki, addr: std::net::SocketAddr) -> io::Result<()> {
    let tcp = TcpStream::connect(addr)?;
    let mut client = TlsConnector::new(pki.client.clone()).connect("localhost", tcp)?;
    client.write_all(b"ping")?;
    client.flush()?;
    let mut reply = Vec::new();
    client.read_to_end(&mut reply)?;
    assert_eq!(reply, b"ping");
    Ok(())
}

#[test]
fn a_client_stalled_mid_handshake_holds_up_no_one() -> io::Result<()> {
    let done = within(Duration::from_secs(60), || {
        greenhub::run(|| -> io::Result<()> {
            let pki = pki();
            // A deadline far beyond the test: only the server's shape can let others through.
            let server = StreamServer::bind_tls(
                "127.0.0.1:0",
                TlsAcceptor::new(pki.server.clone()),
                echo_once,
            )?
            .handshake_timeout(Duration::from_secs(3600))
            .start()?;
            let mut stalled = TcpStream::connect(server.local_addr())?;
            stalled.write_all(HALF_A_HELLO)?;
            for _ in 0..3 {
                echo_round_trip(&pki, server.local_addr())?;
            }
            assert_eq!(
                server.stop(Duration::from_millis(10)),
                1,
                "the stalled handshake"
            );
            Ok(())
        })
    });
    done.expect("a stalled handshake held the server up")
}

#[test]
fn a_client_stalled_mid_handshake_is_dropped_at_the_deadline() -> io::Result<()> {
    let done = within(Duration::from_secs(60), || {
        greenhub::run(|| -> io::Result<()> {
            let pki = pki();
            let deadline = Duration::from_millis(300);
            let server = StreamServer::bind_tls(
                "127.0.0.1:0",
                TlsAcceptor::new(pki.server.clone()),
                echo_once,
            )?
            .handshake_timeout(deadline)
            .start()?;
            let started = Instant::now();
            let mut stalled = TcpStream::connect(server.local_addr())?;
            stalled.write_all(HALF_A_HELLO)?;
            // Served meanwhile, however long this takes.
            echo_round_trip(&pki, server.local_addr())?;
            stalled.set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut buf = [0u8; 16];
            match stalled.read(&mut buf) {
                Ok(0) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                other => panic!("the stalled client was not dropped: {other:?}"),
            }
            assert!(started.elapsed() >= deadline, "dropped before its deadline");
            let idle = Instant::now();
            while server.connections() > 0 && idle.elapsed() < Duration::from_secs(10) {
                greenhub::sleep(Duration::from_millis(5));
            }
            assert_eq!(server.connections(), 0);
            assert_eq!(server.stop(Duration::from_millis(10)), 0);
            Ok(())
        })
    });
    done.expect("the test hung")
}

#[test]
fn a_reader_and_a_writer_share_one_stream_both_ways_at_once() -> io::Result<()> {
    // Far more than the sockets' buffers hold: both writers block on full sockets, so neither
    // finishes unless each side's reader drains while its writer waits.
    const LEN: u64 = 6 << 20;
    let done = within(Duration::from_secs(120), || {
        greenhub::Runtime::builder()
            .hubs(2)
            .build()?
            .run(|| -> io::Result<()> {
                let pki = pki();
                let (client, server) = tls_pair(&pki)?;
                let (client, server) = (Arc::new(client), Arc::new(server));
                let server_reader = {
                    let server = server.clone();
                    greenhub::spawn(move || expect_pattern(&server, 1, LEN))
                };
                let server_writer = {
                    let server = server.clone();
                    greenhub::spawn(move || send_pattern(&server, 2, LEN))
                };
                // The client's writer on the other hub: the session is shared across threads.
                let client_writer = {
                    let client = client.clone();
                    greenhub::spawn_on(1, move || send_pattern(&client, 1, LEN))
                };
                expect_pattern(&client, 2, LEN)?;
                client_writer.join().unwrap()?;
                server_writer.join().unwrap()?;
                server_reader.join().unwrap()?;
                // Both ends close with close_notify; each then reads a clean end.
                client.shutdown(Shutdown::Write)?;
                server.shutdown(Shutdown::Write)?;
                assert_eq!((&*client).read(&mut [0u8; 8])?, 0);
                assert_eq!((&*server).read(&mut [0u8; 8])?, 0);
                Ok(())
            })
    });
    done.expect("the transfer hung")
}

#[test]
fn close_notify_ends_reads_cleanly_and_half_closes() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let pki = pki();
        let (mut client, mut server) = tls_pair(&pki)?;
        server.write_all(b"last words")?;
        server.shutdown(Shutdown::Write)?;
        let mut got = Vec::new();
        client.read_to_end(&mut got)?;
        assert_eq!(got, b"last words");
        assert_eq!(client.read(&mut [0u8; 8])?, 0, "the end lasts");
        // The other half still works, both ways of ending it.
        client.write_all(b"reply")?;
        client.flush()?;
        let mut reply = [0u8; 5];
        server.read_exact(&mut reply)?;
        assert_eq!(&reply, b"reply");
        let err = server.write_all(b"more").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        client.shutdown(Shutdown::Both)?;
        assert_eq!(server.read(&mut [0u8; 8])?, 0);
        Ok(())
    })
}

#[test]
fn a_hang_up_without_close_notify_is_an_unexpected_eof() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let pki = pki();
        let (mut client, server) = tls_pair(&pki)?;
        (&server).write_all(b"cut")?;
        (&server).flush()?;
        server.get_ref().shutdown(Shutdown::Both)?; // the TCP stream only: no close_notify
        let mut got = [0u8; 3];
        client.read_exact(&mut got)?;
        assert_eq!(&got, b"cut");
        let err = client.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("close_notify"), "{err}");
        Ok(())
    })
}

/// A peer on a plain thread, with rustls itself over a blocking socket, so that a test can put
/// bytes on the wire exactly as it likes.
struct RawPeer {
    conn: rustls::ServerConnection,
    socket: std::net::TcpStream,
}

impl RawPeer {
    fn accept(listener: std::net::TcpListener, config: Arc<ServerConfig>) -> RawPeer {
        let (mut socket, _) = listener.accept().unwrap();
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut socket).unwrap();
        }
        RawPeer { conn, socket }
    }

    /// The records that carry `plaintext` (and whatever else the session had queued).
    fn records(&mut self, plaintext: &[u8]) -> Vec<u8> {
        self.conn.writer().write_all(plaintext).unwrap();
        let mut wire = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut wire).unwrap();
        }
        wire
    }

    fn send_raw(&mut self, wire: &[u8]) {
        self.socket.write_all(wire).unwrap();
    }

    /// Reads until `len` bytes of plaintext have come.
    fn receive(&mut self, len: usize) -> Vec<u8> {
        let mut got = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match self.conn.reader().read(&mut got[filled..]) {
                Ok(0) => panic!("the stream ended after {filled} bytes"),
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert_ne!(self.conn.read_tls(&mut self.socket).unwrap(), 0, "hung up");
                    self.conn.process_new_packets().unwrap();
                }
                Err(e) => panic!("{e}"),
            }
        }
        got
    }
}

fn raw_peer_pair(pki: &Pki) -> io::Result<(TlsStream, std::thread::JoinHandle<RawPeer>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let config = pki.server.clone();
    let peer = std::thread::spawn(move || RawPeer::accept(listener, config));
    let client =
        TlsConnector::new(pki.client.clone()).connect("localhost", TcpStream::connect(addr)?)?;
    Ok((client, peer))
}

#[test]
fn reads_cut_short_mid_record_lose_nothing() -> io::Result<()> {
    let done = within(Duration::from_secs(60), || {
        greenhub::run(|| -> io::Result<()> {
            let pki = pki();
            let (client, peer) = raw_peer_pair(&pki)?;
            let client = Arc::new(client);
            let mut peer = peer.join().unwrap();
            let message: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
            let wire = peer.records(&message);
            let (first, rest) = wire.split_at(wire.len() / 2);
            peer.send_raw(first);

            // Half a record is all there is: a read inside a timeout scope waits and is cut
            // short, so is one past the socket's read timeout, and so is a cancelled reader.
            let mut buf = vec![0u8; 8192];
            let scoped = greenhub::timeout(Duration::from_millis(50), || (&*client).read(&mut buf));
            assert!(scoped.is_err(), "{scoped:?}");
            client
                .get_ref()
                .set_read_timeout(Some(Duration::from_millis(50)))?;
            let err = (&*client).read(&mut buf).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            client.get_ref().set_read_timeout(None)?;
            let reader = {
                let client = client.clone();
                greenhub::spawn(move || (&*client).read(&mut [0u8; 64]))
            };
            greenhub::sleep(Duration::from_millis(20));
            reader.cancel();
            assert!(reader.join().unwrap_err().is_cancelled());

            // The rest of the record, and the whole message comes out, a little at a time: what
            // one read decrypted and did not take waits for the next.
            peer.send_raw(rest);
            let mut got = vec![0u8; 10];
            (&*client).read_exact(&mut got)?;
            let taken = greenhub::timeout(Duration::from_millis(50), || {
                let mut more = vec![0u8; message.len() - 10];
                (&*client).read_exact(&mut more).map(|()| more)
            });
            got.extend(taken.expect("the rest was decrypted already")?);
            assert_eq!(got, message);

            // Still one session, both ways.
            (&*client).write_all(b"all there")?;
            (&*client).flush()?;
            let peer = std::thread::spawn(move || peer.receive(9));
            assert_eq!(peer.join().unwrap(), b"all there");
            Ok(())
        })
    });
    done.expect("the test hung")
}

#[test]
fn a_key_update_read_by_the_reader_is_answered_between_the_writers_records() -> io::Result<()> {
    const LEN: u64 = 1 << 20;
    const UPDATES: usize = 3;
    let done = within(Duration::from_secs(120), || {
        greenhub::run(|| -> io::Result<()> {
            let pki = pki();
            let (client, peer) = raw_peer_pair(&pki)?;
            let client = Arc::new(client);
            assert_eq!(
                client.protocol_version(),
                Some(rustls::ProtocolVersion::TLSv1_3)
            );
            let writer = {
                let client = client.clone();
                greenhub::spawn(move || send_pattern(&client, 7, LEN * UPDATES as u64))
            };
            // The peer asks for new keys, says so, then reads a share of the writer's stream,
            // which decrypts only if our answer sits whole between two of the writer's records.
            let peer = std::thread::spawn(move || {
                let mut peer = peer.join().unwrap();
                let mut received = Vec::new();
                for update in 0..UPDATES {
                    peer.conn.refresh_traffic_keys().unwrap();
                    let wire = peer.records(format!("update {update}\n").as_bytes());
                    peer.send_raw(&wire);
                    received.extend(peer.receive(LEN as usize));
                }
                received
            });
            let mut lines = String::new();
            for update in 0..UPDATES {
                let expected = format!("update {update}\n");
                let mut line = vec![0u8; expected.len()];
                (&*client).read_exact(&mut line)?;
                lines.push_str(std::str::from_utf8(&line).unwrap());
            }
            writer.join().unwrap()?;
            let received = peer
                .join()
                .expect("the peer could not decrypt what we sent");
            for (at, &byte) in received.iter().enumerate() {
                assert_eq!(byte, pattern(7, at as u64), "byte {at}");
            }
            assert_eq!(lines, "update 0\nupdate 1\nupdate 2\n");
            Ok(())
        })
    });
    done.expect("the test hung")
}
