//! UDP and Unix domain sockets through greenhub::net.

use greenhub::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

fn socket_path(name: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("greenhub-test-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn udp_send_to_recv_from_and_connected_send_recv() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let server = UdpSocket::bind("127.0.0.1:0")?;
        let server_addr = server.local_addr()?;
        let echo = greenhub::spawn(move || -> io::Result<()> {
            let mut buf = [0u8; 1500];
            for _ in 0..3 {
                let (n, from) = server.recv_from(&mut buf)?;
                server.send_to(&buf[..n], from)?;
            }
            Ok(())
        });
        let client = UdpSocket::bind("127.0.0.1:0")?;
        let mut buf = [0u8; 1500];
        client.send_to(b"first", server_addr)?;
        let (n, from) = client.recv_from(&mut buf)?;
        assert_eq!((&buf[..n], from), (&b"first"[..], server_addr));

        client.connect(server_addr)?;
        assert_eq!(client.peer_addr()?, server_addr);
        client.send(b"second")?;
        let n = client.recv(&mut buf)?;
        assert_eq!(&buf[..n], b"second");
        client.send(b"third")?;
        let (n, _) = client.peek_from(&mut buf)?;
        assert_eq!(&buf[..n], b"third");
        assert_eq!(client.recv(&mut buf)?, 5, "peek left the datagram queued");
        echo.join().unwrap()
    })
}

#[test]
fn udp_recv_times_out() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        assert_eq!(
            socket.recv_from(&mut [0u8; 8]).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        Ok(())
    })
}

#[test]
fn unix_stream_listener_echo() -> io::Result<()> {
    let path = socket_path("stream");
    let result = greenhub::run({
        let path = path.clone();
        move || -> io::Result<()> {
            let listener = UnixListener::bind(&path)?;
            let server = greenhub::spawn(move || -> io::Result<()> {
                for stream in listener.incoming().take(3) {
                    let stream = stream?;
                    greenhub::spawn(move || -> io::Result<()> {
                        let mut line = String::new();
                        BufReader::new(&stream).read_line(&mut line)?;
                        (&stream).write_all(line.to_uppercase().as_bytes())
                    });
                }
                Ok(())
            });
            let clients: Vec<_> = (0..3)
                .map(|i| {
                    let path = path.clone();
                    greenhub::spawn(move || -> io::Result<String> {
                        let mut stream = UnixStream::connect(&path)?;
                        writeln!(stream, "client {i}")?;
                        let mut reply = String::new();
                        stream.read_to_string(&mut reply)?;
                        Ok(reply)
                    })
                })
                .collect();
            for (i, client) in clients.into_iter().enumerate() {
                assert_eq!(client.join().unwrap()?, format!("CLIENT {i}\n"));
            }
            server.join().unwrap()
        }
    });
    let _ = std::fs::remove_file(&path);
    result
}

#[test]
fn unix_connect_to_nothing_is_an_error() {
    greenhub::run(|| {
        let err = UnixStream::connect(socket_path("nobody-here")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn unix_pairs_and_datagrams() -> io::Result<()> {
    let path = socket_path("dgram");
    let result = greenhub::run({
        let path = path.clone();
        move || -> io::Result<()> {
            let (a, b) = UnixStream::pair()?;
            let reader = greenhub::spawn(move || -> io::Result<String> {
                let mut got = String::new();
                (&b).read_to_string(&mut got)?;
                Ok(got)
            });
            (&a).write_all(b"over a pair")?;
            a.shutdown(std::net::Shutdown::Write)?;
            assert_eq!(reader.join().unwrap()?, "over a pair");

            let server = UnixDatagram::bind(&path)?;
            let client = UnixDatagram::unbound()?;
            client.send_to(b"datagram", &path)?;
            let mut buf = [0u8; 32];
            let n = server.recv(&mut buf)?;
            assert_eq!(&buf[..n], b"datagram");
            server.set_read_timeout(Some(Duration::from_millis(20)))?;
            assert_eq!(
                server.recv(&mut buf).unwrap_err().kind(),
                ErrorKind::TimedOut
            );
            Ok(())
        }
    });
    let _ = std::fs::remove_file(&path);
    result
}
