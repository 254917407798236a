//! TCP through greenhub::net: real sockets on 127.0.0.1:0, every error kind asserted.

use greenhub::net::{TcpListener, TcpStream};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

fn echo_server(listener: TcpListener) -> greenhub::JoinHandle<io::Result<()>> {
    greenhub::spawn(move || -> io::Result<()> {
        loop {
            let (stream, _) = listener.accept()?;
            greenhub::spawn(move || -> io::Result<()> {
                let mut writer = stream.try_clone()?;
                let mut buf = [0u8; 4096];
                loop {
                    let n = (&stream).read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    writer.write_all(&buf[..n])?;
                }
            });
        }
    })
}

#[test]
fn echo_with_many_clients_on_one_hub() -> io::Result<()> {
    let rt = greenhub::Runtime::builder().hubs(1).build()?;
    rt.run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = echo_server(listener);
        let clients: Vec<_> = (0..200)
            .map(|i| {
                greenhub::spawn(move || -> io::Result<()> {
                    let stream = TcpStream::connect(addr)?;
                    let mut lines = BufReader::new(stream.try_clone()?).lines();
                    for round in 0..10 {
                        writeln!(&stream, "client {i} round {round}")?;
                        assert_eq!(lines.next().unwrap()?, format!("client {i} round {round}"));
                    }
                    Ok(())
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap()?;
        }
        server.cancel();
        Ok(())
    })
}

#[test]
fn a_megabyte_written_at_once_arrives_in_chunks_and_reassembles() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let payload: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        let receiver = greenhub::spawn(move || -> io::Result<(Vec<u8>, usize)> {
            let (mut stream, _) = listener.accept()?;
            let (mut got, mut reads) = (Vec::new(), 0);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    return Ok((got, reads));
                }
                reads += 1;
                got.extend_from_slice(&buf[..n]);
            }
        });
        let mut stream = TcpStream::connect(addr)?;
        stream.write_all(&payload)?;
        stream.shutdown(Shutdown::Write)?;
        let (got, reads) = receiver.join().unwrap()?;
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes were reordered or lost");
        assert!(
            reads > 1,
            "one send is not one receive: expected several reads, saw {reads}"
        );
        Ok(())
    })
}

#[test]
fn eof_is_a_read_of_zero() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (mut server_side, _) = listener.accept()?;
        drop(client);
        let mut buf = [0u8; 16];
        assert_eq!(server_side.read(&mut buf)?, 0);
        Ok(())
    })
}

#[test]
fn connection_refused() -> io::Result<()> {
    greenhub::run(|| {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        Ok(())
    })
}

#[test]
fn writing_to_a_vanished_peer_is_broken_pipe_or_reset_not_sigpipe() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        let (server_side, _) = listener.accept()?;
        // SO_LINGER 0 makes the close a reset.
        socket2::SockRef::from(&server_side).set_linger(Some(Duration::ZERO))?;
        drop(server_side);
        greenhub::sleep(Duration::from_millis(20));
        let chunk = [7u8; 64 * 1024];
        let err = loop {
            if let Err(e) = client.write(&chunk) {
                break e;
            }
        };
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "unexpected error kind {:?}",
            err.kind()
        );
        Ok(())
    })
}

#[test]
fn read_and_write_timeouts_fire_and_leave_the_socket_usable() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        let (mut server_side, _) = listener.accept()?;

        client.set_read_timeout(Some(Duration::from_millis(30)))?;
        assert_eq!(client.read_timeout()?, Some(Duration::from_millis(30)));
        let start = Instant::now();
        let err = client.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(
            start.elapsed() >= Duration::from_millis(30),
            "returned early"
        );
        server_side.write_all(b"after")?;
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf)?;
        assert_eq!(&buf, b"after");

        // Fill the send buffer: the peer never reads, so a write must time out.
        client.set_write_timeout(Some(Duration::from_millis(30)))?;
        let chunk = vec![1u8; 256 * 1024];
        let err = loop {
            if let Err(e) = client.write(&chunk) {
                break e;
            }
        };
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(
            client
                .set_read_timeout(Some(Duration::ZERO))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
        Ok(())
    })
}

#[test]
fn accept_times_out_with_a_read_timeout() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_read_timeout(Some(Duration::from_millis(20)))?;
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::TimedOut);
        Ok(())
    })
}

#[test]
fn a_reader_and_a_writer_green_thread_share_one_socket() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = echo_server(listener);
        let stream = TcpStream::connect(addr)?;
        let reader_side = stream.try_clone()?;
        let reader = greenhub::spawn(move || -> io::Result<usize> {
            let mut total = 0;
            let mut buf = [0u8; 8192];
            while total < 500 * 1000 {
                total += (&reader_side).read(&mut buf)?;
            }
            Ok(total)
        });
        let writer = greenhub::spawn(move || -> io::Result<()> {
            for _ in 0..500 {
                (&stream).write_all(&[b'x'; 1000])?;
            }
            Ok(())
        });
        writer.join().unwrap()?;
        assert_eq!(reader.join().unwrap()?, 500 * 1000);
        server.cancel();
        Ok(())
    })
}

#[test]
fn close_wakes_a_green_thread_waiting_on_the_socket_with_an_error() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let _server_side = listener.accept()?;
        let waiting = client.try_clone()?;
        let reader = greenhub::spawn(move || (&waiting).read(&mut [0u8; 8]));
        greenhub::sleep(Duration::from_millis(10));
        assert!(!reader.is_finished(), "the reader should be parked");
        client.close()?;
        let err = reader.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConnected);

        let acceptor_listener = listener.try_clone()?;
        let acceptor = greenhub::spawn(move || acceptor_listener.accept().map(|_| ()));
        greenhub::sleep(Duration::from_millis(10));
        listener.close()?;
        assert_eq!(
            acceptor.join().unwrap().unwrap_err().kind(),
            ErrorKind::NotConnected
        );
        Ok(())
    })
}

#[test]
fn peek_vectored_io_nodelay_and_addresses() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server_side, peer) = listener.accept()?;
        assert_eq!(peer, client.local_addr()?);
        assert_eq!(client.peer_addr()?, listener.local_addr()?);
        client.set_nodelay(true)?;
        assert!(client.nodelay()?);

        let sent = (&client).write_vectored(&[io::IoSlice::new(b"ab"), io::IoSlice::new(b"cd")])?;
        assert_eq!(sent, 4, "a fresh socket takes four bytes in one call");
        let mut peeked = [0u8; 4];
        let mut seen = 0;
        while seen < 4 {
            seen = server_side.peek(&mut peeked)?;
        }
        assert_eq!(&peeked, b"abcd");
        let (mut first, mut second) = ([0u8; 1], [0u8; 3]);
        let n = (&server_side).read_vectored(&mut [
            io::IoSliceMut::new(&mut first),
            io::IoSliceMut::new(&mut second),
        ])?;
        assert_eq!(n, 4);
        assert_eq!((&first, &second), (b"a", b"bcd"));
        Ok(())
    })
}

#[test]
fn dual_stack_listener_accepts_ipv4_and_ipv6() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = match TcpListener::bind("[::]:0") {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("skipped: IPv6 is not available here ({e})");
                return Ok(());
            }
        };
        let port = listener.local_addr()?.port();
        let v4 = TcpStream::connect(("127.0.0.1", port))?;
        assert!(listener.accept()?.1.ip().to_canonical().is_loopback());
        drop(v4);
        if let Ok(v6) = TcpStream::connect(("::1", port)) {
            assert!(listener.accept()?.1.is_ipv6());
            drop(v6);
        }
        Ok(())
    })
}

#[test]
fn host_names_resolve_on_the_blocking_pool() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let _client = TcpStream::connect(("localhost", port))
            .or_else(|_| TcpStream::connect(("127.0.0.1", port)))?;
        listener.accept()?;
        Ok(())
    })
}

#[test]
fn connect_timeout_to_a_listener_with_a_full_backlog_or_success() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let stream = TcpStream::connect_timeout(&listener.local_addr()?, Duration::from_secs(2))?;
        assert_eq!(stream.peer_addr()?, listener.local_addr()?);
        Ok(())
    })
}

#[test]
fn sockets_work_from_a_plain_thread() -> io::Result<()> {
    // No runtime at all: every call blocks the OS thread in poll(2).
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> io::Result<(String, TcpStream)> {
        let (stream, _) = listener.accept()?;
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line)?;
        (&stream).write_all(line.to_uppercase().as_bytes())?;
        Ok((line, stream))
    });
    let mut client = TcpStream::connect(addr)?;
    client.write_all(b"plain thread\n")?;
    let mut reply = String::new();
    BufReader::new(&client).read_line(&mut reply)?;
    assert_eq!(reply, "PLAIN THREAD\n");
    let (line, _still_open) = server.join().unwrap()?;
    assert_eq!(line, "plain thread\n");
    client.set_read_timeout(Some(Duration::from_millis(20)))?;
    assert_eq!(
        client.read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    Ok(())
}

#[test]
fn std_conversions_round_trip() -> io::Result<()> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let listener = TcpListener::try_from(std_listener)?;
    let addr = listener.local_addr()?;
    let back = listener.into_std()?;
    assert_eq!(back.local_addr()?, addr);
    let shared = TcpListener::try_from(back)?;
    let _other = shared.try_clone()?;
    assert!(shared.into_std().is_err(), "another handle still exists");
    Ok(())
}

#[test]
fn eof_queued_behind_a_short_read_is_still_seen() -> io::Result<()> {
    // A short read marks the socket drained; a FIN that arrived before that read produces no
    // further readiness edge, so the hang-up must be remembered, not cleared.
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        client.write_all(&[5u8; 100])?;
        client.shutdown(Shutdown::Write)?;
        let (mut server_side, _) = listener.accept()?;
        greenhub::sleep(Duration::from_millis(20)); // data and FIN are both queued now
        server_side.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buf = [0u8; 4096];
        assert_eq!(server_side.read(&mut buf)?, 100);
        assert_eq!(server_side.read(&mut buf)?, 0, "the queued EOF was lost");
        Ok(())
    })
}
