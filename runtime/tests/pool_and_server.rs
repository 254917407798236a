//! Pool limits, and the stream server: start, stop with grace, maximum connections, a
//! panicking handler, and EMFILE backoff (in a child process with a lowered descriptor limit).

use greenhub::net::TcpStream;
use greenhub::{Pool, StreamServer};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_pool_runs_at_most_its_size_at_once() {
    greenhub::run(|| {
        let pool = Pool::new(3);
        let (active, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        for _ in 0..12 {
            let (active, peak) = (active.clone(), peak.clone());
            pool.spawn(move || {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                greenhub::sleep(Duration::from_millis(2));
                active.fetch_sub(1, Ordering::SeqCst);
            });
            assert!(pool.running() <= 3);
        }
        pool.join();
        assert_eq!(pool.running(), 0);
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn a_pool_cancels_everything_it_runs() {
    greenhub::run(|| {
        let pool = Pool::new(4);
        let handles: Vec<_> = (0..4)
            .map(|_| pool.spawn(|| greenhub::sleep(Duration::from_secs(60))))
            .collect();
        greenhub::yield_now();
        pool.cancel();
        assert!(pool.join_timeout(Duration::from_secs(5)));
        assert!(handles
            .into_iter()
            .all(|h| h.join().unwrap_err().is_cancelled()));
    });
}

fn echo_handler(mut stream: TcpStream, _peer: std::net::SocketAddr) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn round_trip(stream: &mut TcpStream, byte: u8) -> io::Result<u8> {
    stream.write_all(&[byte])?;
    let mut reply = [0u8; 1];
    stream.read_exact(&mut reply)?;
    Ok(reply[0])
}

#[test]
fn server_serves_and_stops_with_grace() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let server = StreamServer::bind("127.0.0.1:0", echo_handler)?.start()?;
        let mut client = TcpStream::connect(server.local_addr())?;
        assert_eq!(round_trip(&mut client, 42)?, 42);
        assert_eq!(server.connections(), 1);
        // The client stays connected: its handler is cancelled after the grace period.
        let start = Instant::now();
        assert_eq!(server.stop(Duration::from_millis(50)), 1);
        assert!(start.elapsed() >= Duration::from_millis(50));
        let mut buf = [0u8; 1];
        assert_eq!(
            client.read(&mut buf)?,
            0,
            "the server closed the cancelled connection"
        );
        Ok(())
    })
}

#[test]
fn handlers_that_finish_within_the_grace_period_are_not_cancelled() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let server = StreamServer::bind("127.0.0.1:0", |_stream, _peer| {
            greenhub::sleep(Duration::from_millis(30))
        })?
        .start()?;
        let _client = TcpStream::connect(server.local_addr())?;
        greenhub::sleep(Duration::from_millis(5));
        assert_eq!(server.stop(Duration::from_secs(5)), 0);
        Ok(())
    })
}

#[test]
fn at_max_connections_the_server_waits_for_a_slot() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let server = StreamServer::bind("127.0.0.1:0", echo_handler)?
            .max_connections(2)
            .start()?;
        let addr = server.local_addr();
        let mut first = TcpStream::connect(addr)?;
        let mut second = TcpStream::connect(addr)?;
        assert_eq!(round_trip(&mut first, 1)?, 1);
        assert_eq!(round_trip(&mut second, 2)?, 2);
        let mut third = TcpStream::connect(addr)?; // connects (backlog), but is not served yet
        third.set_read_timeout(Some(Duration::from_millis(100)))?;
        third.write_all(&[3])?;
        assert_eq!(
            third.read(&mut [0u8; 1]).unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
        assert_eq!(server.connections(), 2);
        drop(first); // a slot frees up
        third.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reply = [0u8; 1];
        third.read_exact(&mut reply)?;
        assert_eq!(reply[0], 3);
        server.stop(Duration::ZERO);
        Ok(())
    })
}

#[test]
fn a_panicking_handler_does_not_stop_the_server() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let server = StreamServer::bind("127.0.0.1:0", |stream, peer| {
            let mut first = [0u8; 1];
            (&stream).read_exact(&mut first).unwrap();
            if first[0] == b'!' {
                panic!("handler for {peer} failed on purpose");
            }
            (&stream).write_all(&first).unwrap();
        })?
        .start()?;
        for _ in 0..3 {
            let mut bad = TcpStream::connect(server.local_addr())?;
            bad.write_all(b"!")?;
            assert_eq!(
                bad.read(&mut [0u8; 1])?,
                0,
                "a panicked handler's stream is closed"
            );
        }
        let mut good = TcpStream::connect(server.local_addr())?;
        assert_eq!(round_trip(&mut good, b'k')?, b'k');
        server.stop(Duration::ZERO);
        Ok(())
    })
}

#[test]
fn on_all_hubs_spreads_connections() -> io::Result<()> {
    let rt = greenhub::Runtime::builder().hubs(2).build()?;
    rt.run(|| -> io::Result<()> {
        let hubs_seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let seen = hubs_seen.clone();
        let server = StreamServer::bind("127.0.0.1:0", move |mut stream, _| {
            seen.lock().unwrap().insert(greenhub::current_hub());
            let _ = stream.write_all(b"x");
        })?
        .on_all_hubs()
        .start()?;
        for _ in 0..64 {
            let mut client = TcpStream::connect(server.local_addr())?;
            client.read_exact(&mut [0u8; 1])?;
        }
        server.stop(Duration::from_secs(1));
        assert_eq!(
            hubs_seen.lock().unwrap().len(),
            2,
            "connections reached both hubs"
        );
        Ok(())
    })
}

const EMFILE_CHILD: &str = "GREENHUB_EMFILE_CHILD";

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(16)
}

fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The child: an echo server allowed only a few more descriptors than it already uses.
fn emfile_child() -> io::Result<()> {
    let rt = greenhub::Runtime::builder().hubs(1).build()?;
    rt.run(|| -> io::Result<()> {
        let server = StreamServer::bind("127.0.0.1:0", echo_handler)?.start()?;
        let limit = open_descriptors() + 8;
        let lowered = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit.max(4096),
        };
        // SAFETY: setrlimit gets a valid pointer to an rlimit struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) } != 0 {
            return Err(io::Error::last_os_error());
        }
        println!("{}", server.local_addr());
        io::stdout().flush()?;
        greenhub::sleep(Duration::from_secs(60));
        Ok(())
    })
}

#[test]
fn emfile_is_answered_by_backing_off_and_serving_again() -> io::Result<()> {
    if std::env::var(EMFILE_CHILD).is_ok() {
        return emfile_child();
    }
    if !std::path::Path::new("/proc/self/fd").exists() {
        eprintln!("skipped emfile_is_answered_by_backing_off_and_serving_again: no /proc here");
        return Ok(());
    }
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "emfile_is_answered_by_backing_off_and_serving_again",
            "--nocapture",
            "--quiet",
        ])
        .env(EMFILE_CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    // libtest prints its own lines first; the address is the first line that parses as one.
    // The reader stays alive so the child never writes into a closed pipe.
    let mut output = io::BufReader::new(child.stdout.take().unwrap());
    let addr: std::net::SocketAddr = loop {
        let mut line = String::new();
        if io::BufRead::read_line(&mut output, &mut line)? == 0 {
            return Err(io::Error::other(
                "the child exited before printing its address",
            ));
        }
        if let Ok(addr) = line.trim().parse() {
            break addr;
        }
    };
    let result = (|| -> io::Result<()> {
        // Twenty clients; the child can hold about eight connections.
        let mut clients: Vec<std::net::TcpStream> = (0..20)
            .map(|_| std::net::TcpStream::connect(addr))
            .collect::<io::Result<_>>()?;
        for c in &mut clients {
            c.write_all(b"x")?;
            c.set_read_timeout(Some(Duration::from_millis(300)))?;
        }
        std::thread::sleep(Duration::from_millis(200));
        let served: Vec<bool> = clients
            .iter_mut()
            .map(|c| c.read(&mut [0u8; 1]).map(|n| n == 1).unwrap_or(false))
            .collect();
        let served_count = served.iter().filter(|s| **s).count();
        assert!(
            served_count > 0 && served_count < 20,
            "expected descriptor exhaustion, {served_count} of 20 served"
        );
        // Out of descriptors, the server must back off, not spin.
        let before = cpu_ns(child.id());
        std::thread::sleep(Duration::from_millis(500));
        let busy = Duration::from_nanos(cpu_ns(child.id()) - before);
        assert!(
            busy < Duration::from_millis(150),
            "the server spun on EMFILE: {busy:?} of CPU in 500 ms"
        );
        // Free the server's descriptors: the waiting clients are served again.
        let mut waiting: Vec<std::net::TcpStream> = clients
            .into_iter()
            .zip(served)
            .filter(|(_, s)| !s)
            .map(|(c, _)| c)
            .collect();
        for c in &mut waiting {
            c.set_read_timeout(Some(Duration::from_secs(5)))?;
        }
        // The served clients were dropped above, which frees their server descriptors. There may
        // be more waiting clients than free descriptors, so each one hangs up once served and
        // makes room for the next.
        let mut reply = [0u8; 1];
        for mut c in waiting {
            c.read_exact(&mut reply)?;
        }
        Ok(())
    })();
    child.kill()?;
    child.wait()?;
    drop(output);
    result
}
