//! Descriptor exhaustion: the chat server, in a child process with a lowered RLIMIT_NOFILE,
//! meets a connection storm. It must neither crash nor spin; clients already connected keep
//! chatting; new clients are served again once descriptors free up.

use chat_demo::server::{serve, Config};
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD: &str = "CHAT_EXHAUSTION_CHILD";

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(16, |d| d.count() as u64)
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

/// The child: a chat server allowed only a few more descriptors than it starts with.
fn child() -> io::Result<()> {
    greenhub::Runtime::builder().hubs(1).build()?.run(|| {
        let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let limit = open_descriptors() + 6;
        let lowered = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit.max(4096),
        };
        // SAFETY: setrlimit gets a valid pointer to an rlimit struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) } != 0 {
            return Err(io::Error::last_os_error());
        }
        println!("{addr}");
        io::stdout().flush()?;
        serve(
            listener,
            Config::default().without_address_limits(),
            Arc::new(greenhub::sync::Event::new()),
        )
    })
}

struct Chatter {
    stream: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Chatter {
    fn connect(addr: std::net::SocketAddr, timeout: Duration) -> io::Result<Chatter> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(timeout))?;
        let lines = BufReader::new(stream.try_clone()?);
        let mut chatter = Chatter { stream, lines };
        chatter.expect("*** welcome")?;
        Ok(chatter)
    }

    fn expect(&mut self, prefix: &str) -> io::Result<String> {
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if line.contains(prefix) {
                return Ok(line);
            }
        }
    }
}

#[test]
fn a_connection_storm_at_the_descriptor_limit_harms_no_one() -> io::Result<()> {
    if std::env::var(CHILD).is_ok() {
        return child();
    }
    if !std::path::Path::new("/proc/self/fd").exists() {
        eprintln!("skipped: no /proc here, so descriptors and CPU cannot be counted");
        return Ok(());
    }
    let mut server = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "a_connection_storm_at_the_descriptor_limit_harms_no_one",
            "--nocapture",
            "--quiet",
        ])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut output = BufReader::new(server.stdout.take().expect("piped"));
    let addr: std::net::SocketAddr = loop {
        let mut line = String::new();
        if output.read_line(&mut line)? == 0 {
            return Err(io::Error::other(
                "the server exited before printing its address",
            ));
        }
        if let Ok(addr) = line.trim().parse() {
            break addr;
        }
    };
    let result = (|| -> io::Result<()> {
        let mut ann = Chatter::connect(addr, Duration::from_secs(5))?;
        let mut ben = Chatter::connect(addr, Duration::from_secs(5))?;
        // The storm: far more connections than the server has descriptors for.
        let storm: Vec<TcpStream> = (0..40)
            .map(|_| TcpStream::connect(addr))
            .collect::<io::Result<_>>()?;
        std::thread::sleep(Duration::from_millis(300));
        let before = cpu_ns(server.id());
        std::thread::sleep(Duration::from_millis(500));
        let busy = Duration::from_nanos(cpu_ns(server.id()) - before);
        assert!(
            busy < Duration::from_millis(150),
            "the server spun: {busy:?} of CPU in 500 ms"
        );
        // Those already in keep chatting.
        writeln!(ann.stream, "still talking")?;
        assert!(ben.expect("still talking")?.ends_with("> still talking\n"));
        // The storm leaves; a newcomer is served again.
        drop(storm);
        let started = Instant::now();
        let newcomer = Chatter::connect(addr, Duration::from_secs(10));
        assert!(
            newcomer.is_ok(),
            "a newcomer was not served after the storm: {newcomer:?}",
            newcomer = newcomer.as_ref().err()
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        Ok(())
    })();
    server.kill()?;
    server.wait()?;
    drop(output);
    result
}
