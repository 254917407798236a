//! Sockets at the edges: an operation that took effect returns its result even when a `timeout`
//! expired meanwhile; an error condition is not mistaken for a hang-up; a descriptor leaves its
//! poller when it is released, whichever hub or thread releases it. Each test is named after
//! what broke; the findings are those of the soundness review (issue 11).

mod common;

use greenhub::net::{TcpListener, TcpStream, UdpSocket};
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration;

/// A deadline that has passed by the time anything parks.
const ALREADY_PAST: Duration = Duration::from_micros(1);

fn connected_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    Ok((client, server))
}

/// Finding 3: after a successful read the I/O budget yields every 128 calls, and that yield
/// used to look at the expired scope and unwind, throwing away the byte just read.
#[test]
fn a_timeout_that_expires_during_successful_reads_loses_no_byte() -> io::Result<()> {
    const TOTAL: usize = 20_000;
    greenhub::run(|| {
        let (mut client, mut server) = connected_pair()?;
        client.write_all(&[7u8; TOTAL])?;
        let mut got = 0usize;
        let outcome = greenhub::timeout(ALREADY_PAST, || -> io::Result<()> {
            let mut byte = [0u8; 1];
            loop {
                got += server.read(&mut byte)?; // succeeds without parking until drained
            }
        });
        assert!(outcome.is_err(), "the scope ends at the first park");
        drop(client);
        let mut rest = Vec::new();
        server.read_to_end(&mut rest)?;
        assert_eq!(
            got + rest.len(),
            TOTAL,
            "bytes read inside the scope were lost"
        );
        Ok(())
    })
}

/// Finding 3, accept: a connection accepted right before the budget's yield was dropped.
#[test]
fn a_timeout_that_expires_during_successful_accepts_drops_no_connection() -> io::Result<()> {
    const CLIENTS: usize = 300;
    greenhub::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let clients = (0..CLIENTS)
            .map(|_| std::net::TcpStream::connect(addr))
            .collect::<io::Result<Vec<_>>>()?;
        let mut accepted = Vec::new();
        let outcome = greenhub::timeout(ALREADY_PAST, || -> io::Result<()> {
            loop {
                accepted.push(listener.accept()?.0);
            }
        });
        assert!(outcome.is_err(), "the scope ends at the first park");
        listener.set_read_timeout(Some(Duration::from_millis(200)))?;
        while accepted.len() < CLIENTS {
            match listener.accept() {
                Ok((stream, _)) => accepted.push(stream),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                Err(e) => return Err(e),
            }
        }
        assert_eq!(
            accepted.len(),
            CLIENTS,
            "a connection accepted in the scope was dropped"
        );
        drop(clients);
        Ok(())
    })
}

/// Finding 3, write: a byte sent right before the budget's yield was reported as not sent.
#[test]
fn a_timeout_that_expires_during_successful_writes_reports_every_byte_sent() -> io::Result<()> {
    greenhub::run(|| {
        let (mut client, server) = connected_pair()?;
        let mut sent = 0usize;
        let outcome = greenhub::timeout(ALREADY_PAST, || -> io::Result<()> {
            // A few thousand single bytes fit the socket buffers: no write parks until then.
            for _ in 0..5_000 {
                sent += client.write(&[1])?;
            }
            greenhub::yield_now(); // the first cancellation point: the scope ends here
            Ok(())
        });
        assert!(outcome.is_err(), "the scope ends at the yield");
        drop(client);
        let mut received = Vec::new();
        (&server).read_to_end(&mut received)?;
        assert_eq!(
            received.len(),
            sent,
            "bytes were sent but reported as not sent"
        );
        Ok(())
    })
}

/// Finding 5: EPOLLERR used to mark a socket closed for good, so a connected UDP socket that got
/// an ICMP error spun in `recv` (would block, "ready", would block, ...) and starved its hub.
#[test]
fn an_icmp_error_on_udp_is_reported_once_and_the_receiver_parks_again() -> io::Result<()> {
    greenhub::run(|| {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let nobody = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?; // closed again
        socket.connect(nobody)?;
        socket.set_read_timeout(Some(Duration::from_millis(300)))?;
        let slept = Rc::new(Cell::new(false));
        let sleeper = {
            let slept = slept.clone();
            greenhub::spawn(move || {
                greenhub::sleep(Duration::from_millis(20));
                slept.set(true);
            })
        };
        let pinger = {
            let socket = socket.try_clone()?;
            greenhub::spawn(move || {
                greenhub::yield_now(); // let the receiver park first, registered with epoll
                socket.send(b"ping") // answered by ICMP port unreachable: EPOLLERR
            })
        };
        let mut refused = 0;
        let mut buf = [0u8; 16];
        loop {
            match socket.recv(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused += 1,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                other => panic!("unexpected: {other:?}"),
            }
        }
        assert!(
            slept.get(),
            "the receiver spun instead of parking: a 20 ms sleeper on its hub never ran"
        );
        assert!(refused <= 1, "the error was reported {refused} times");
        pinger.join().unwrap()?;
        sleeper.join().unwrap();
        Ok(())
    })
}

/// Finding 11: a socket registered by one hub and released on another (`into_std`, or a drop
/// there) stayed in the first hub's poller, so wrapping it again failed with EEXIST.
#[test]
#[cfg(target_os = "linux")]
fn a_socket_released_on_another_hub_leaves_its_poller() -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let rt = greenhub::Runtime::builder().hubs(2).build()?;
    rt.run(|| {
        let (mut client, server) = connected_pair()?;
        let inode = common::inode_of(server.as_raw_fd());
        // Hub 1 waits on the socket, which registers it with hub 1's poller.
        let server = greenhub::spawn_on(1, move || {
            server
                .set_read_timeout(Some(Duration::from_millis(10)))
                .unwrap();
            let waited = (&server).read(&mut [0u8; 1]);
            assert_eq!(waited.unwrap_err().kind(), io::ErrorKind::TimedOut);
            server
        })
        .join()
        .unwrap();
        assert_eq!(common::epoll_registrations_of(inode), 1);
        // Released here, on hub 0.
        let plain = server.into_std()?;
        assert_eq!(
            common::epoll_registrations_of(inode),
            0,
            "the released socket is still registered with hub 1's poller"
        );
        // Hub 1 can take it up again and wait on it.
        let reader = greenhub::spawn_on(1, move || -> io::Result<[u8; 5]> {
            let stream = TcpStream::try_from(plain)?;
            let mut hello = [0u8; 5];
            (&stream).read_exact(&mut hello)?;
            Ok(hello)
        });
        greenhub::sleep(Duration::from_millis(5));
        client.write_all(b"hello")?;
        assert_eq!(&reader.join().unwrap()?, b"hello");
        Ok(())
    })
}

/// Finding 12: `Signals` closed its descriptor before taking it out of the poller (field drop
/// order), so the removal hit a closed descriptor and, when the file lived on (a duplicate), a
/// stale registration stayed behind.
#[test]
#[cfg(target_os = "linux")]
fn dropping_signals_takes_the_pipe_out_of_the_poller_before_closing_it() {
    const TEST: &str = "dropping_signals_takes_the_pipe_out_of_the_poller_before_closing_it";
    if common::is_child(TEST) {
        signals_child();
        return;
    }
    let outcome = common::run_child(TEST, Duration::from_secs(30), |_| {});
    assert!(
        outcome.status.is_some_and(|s| s.success()),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
}

/// In a process of its own, so that the only sockets around are the signal pipe's.
#[cfg(target_os = "linux")]
fn signals_child() {
    use greenhub::signal::{Signals, SIGUSR2};
    greenhub::run(|| {
        let sockets_before = socket_inodes();
        let mut signals = Signals::new(&[SIGUSR2]).unwrap();
        let pipe: Vec<(i32, u64)> = socket_inodes()
            .into_iter()
            .filter(|s| !sockets_before.contains(s))
            .collect();
        let raiser = greenhub::spawn(|| {
            greenhub::yield_now(); // let the waiter park: that registers the pipe
            signal_hook::low_level::raise(SIGUSR2).unwrap();
        });
        assert_eq!(signals.wait().unwrap(), SIGUSR2);
        raiser.join().unwrap();
        let (read_end, inode) = *pipe
            .iter()
            .find(|(_, inode)| common::epoll_registrations_of(*inode) == 1)
            .expect("the pipe's read end is registered");
        // Keep the file alive past the close, as a child process or a dup elsewhere would.
        // SAFETY: dup of a descriptor this process owns; the copy is closed below.
        let copy = unsafe { libc::dup(read_end) };
        assert!(copy >= 0);
        drop(signals);
        let stale = common::epoll_registrations_of(inode);
        // SAFETY: `copy` is ours and closed once.
        unsafe { libc::close(copy) };
        assert_eq!(
            stale, 0,
            "a stale registration of the closed pipe stayed behind"
        );
    });
}

/// This process's socket descriptors and their inodes.
#[cfg(target_os = "linux")]
fn socket_inodes() -> Vec<(i32, u64)> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            target
                .to_string_lossy()
                .starts_with("socket:")
                .then(|| (fd, common::inode_of(fd)))
        })
        .collect()
}

/// `io::stdin().read_line` moved a partial line out of its buffer before it parked for the
/// rest, so a `timeout` (or cancel) in between threw the partial line away.
#[test]
fn a_stdin_line_read_cut_short_keeps_what_it_had_read() {
    const TEST: &str = "a_stdin_line_read_cut_short_keeps_what_it_had_read";
    if common::is_child(TEST) {
        greenhub::run(|| {
            let stdin = greenhub::io::stdin();
            let mut line = String::new();
            let first =
                greenhub::timeout(Duration::from_millis(100), || stdin.read_line(&mut line));
            assert!(first.is_err(), "the rest of the line comes later");
            let mut line = String::new();
            stdin.read_line(&mut line).unwrap();
            println!("next line: {line:?}");
        });
        return;
    }
    let mut ends = [0; 2];
    // SAFETY: pipe writes two new descriptors into `ends`.
    assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here, once each.
    let (reader, writer) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(ends[0]),
            std::os::fd::OwnedFd::from_raw_fd(ends[1]),
        )
    };
    let typist = std::thread::spawn(move || {
        let mut writer = std::fs::File::from(writer);
        writer.write_all(b"hel").unwrap();
        std::thread::sleep(Duration::from_millis(400));
        writer.write_all(b"lo\nworld\n").unwrap();
    });
    let outcome = common::run_child(TEST, Duration::from_secs(30), |command| {
        command.stdin(std::process::Stdio::from(reader));
    });
    typist.join().unwrap();
    assert!(
        outcome.stdout.contains("next line: \"hello\\n\""),
        "status {:?}, stdout: {}, stderr: {}",
        outcome.status,
        outcome.stdout,
        outcome.stderr
    );
}

/// A socket first waited on in one runtime stayed registered with that runtime's poller; once
/// that runtime stopped, a green thread of another runtime that was waiting on the socket
/// meanwhile was never woken again.
#[test]
fn a_socket_outlives_the_runtime_that_first_waited_on_it() -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (accepted, _) = listener.accept()?;
    let (stream_tx, stream_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    // The first runtime waits on the socket (registering it with its hub), hands it over, and
    // keeps running until told to stop.
    let first = std::thread::spawn(move || {
        greenhub::Runtime::builder()
            .hubs(1)
            .build()
            .unwrap()
            .run(move || {
                let stream = TcpStream::try_from(accepted).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(10)))
                    .unwrap();
                let waited = (&stream).read(&mut [0u8; 1]);
                assert_eq!(waited.unwrap_err().kind(), io::ErrorKind::TimedOut);
                stream.set_read_timeout(None).unwrap();
                stream_tx.send(stream).unwrap();
                greenhub::unblock(move || stop_rx.recv().unwrap());
            })
    });
    let stream = stream_rx.recv().unwrap();
    let read = common::within(Duration::from_secs(10), move || {
        greenhub::run(move || {
            let reader = greenhub::spawn(move || {
                let mut late = [0u8; 4];
                (&stream).read_exact(&mut late).map(|()| late)
            });
            greenhub::sleep(Duration::from_millis(20)); // the reader waits, through the first runtime
            greenhub::unblock(move || {
                stop_tx.send(()).unwrap();
                first.join().unwrap();
            });
            client.write_all(b"late").unwrap();
            reader.join().unwrap()
        })
    });
    assert_eq!(
        &read.expect("the reader was never woken")?,
        b"late",
        "read the wrong bytes"
    );
    Ok(())
}
