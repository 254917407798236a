//! A `chat-server` child process, for the tools that measure one: `chat-load --hubs` and
//! `chat-soak`. It is started on `127.0.0.1:0` and the address is read from its banner.
//! And a `redis-server` child on a free loopback port, for the servers of a cluster to meet
//! at (the cluster tests, `chat-load --cluster` and the benchmark report).

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `chat-server`; killed when dropped.
///
/// # Examples
///
/// ```no_run
/// use chat_demo::child::{sibling, ServerProcess};
/// let server = ServerProcess::start(&sibling("chat-server")?, &["--hubs", "2"])?;
/// println!("a two-hub chat server listens on {}", server.addr());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ServerProcess {
    child: Child,
    addr: String,
    web_addr: Option<String>,
}

/// The path of a binary built beside the running one (`chat-server` beside `chat-load`).
///
/// # Errors
///
/// When the running binary's path cannot be read.
pub fn sibling(name: &str) -> io::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name(name))
}

impl ServerProcess {
    /// Starts `binary --listen 127.0.0.1:0 ARGS...` with warnings-only logging and waits for
    /// the address it prints. The web port is off unless `args` set `--web` (so that no two
    /// children ever race for the default 8080).
    ///
    /// # Errors
    ///
    /// When the binary cannot be started (the message says how to build it) or exits before
    /// printing its address.
    pub fn start(binary: &Path, args: &[&str]) -> io::Result<ServerProcess> {
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0"])
            .args(if args.contains(&"--web") {
                &[][..]
            } else {
                &["--web", "off"][..]
            })
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start {}: {e} (build it with `cargo build --release -p chat-demo`)",
                        binary.display()
                    ),
                )
            })?;
        let mut output = BufReader::new(child.stdout.take().expect("piped"));
        let mut banner = String::new();
        output.read_line(&mut banner)?;
        let addr = banner
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        // With a web port, its address follows a line later.
        let mut web_addr = None;
        if args.contains(&"--web") && !args.contains(&"off") {
            for line in (&mut output).lines().take(4) {
                let line = line?;
                if let Some(url) = line.strip_prefix("chat in a browser at ") {
                    let host = url.split("://").nth(1).unwrap_or_default();
                    web_addr = Some(host.trim_end_matches('/').to_string());
                    break;
                }
            }
        }
        // Keep reading what the server prints, so that it never writes into a closed pipe.
        std::thread::spawn(move || io::copy(&mut output, &mut io::sink()));
        if addr.parse::<std::net::SocketAddr>().is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "{} printed no address: {banner:?}",
                binary.display()
            )));
        }
        Ok(ServerProcess {
            addr,
            web_addr,
            child,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The address of the server's web port, when `--web` was among its arguments (and not
    /// `off`): `ServerProcess::start(&binary, &["--web", "127.0.0.1:0"])?.web_addr()`.
    pub fn web_addr(&self) -> Option<&str> {
        self.web_addr.as_deref()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A server that already exited cannot be killed; either way it is gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` on a free loopback port, with persistence off; killed when dropped.
///
/// # Examples
///
/// ```no_run
/// use chat_demo::child::RedisProcess;
/// let redis = RedisProcess::start()?;
/// println!("chat servers can meet at {}", redis.url());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RedisProcess {
    child: Option<Child>,
    port: u16,
}

impl RedisProcess {
    /// Starts `redis-server` (found on `PATH`) on a free port of 127.0.0.1 and waits until it
    /// answers a `PING`.
    ///
    /// # Errors
    ///
    /// `NotFound` when `redis-server` is not installed (the message says how to install it);
    /// otherwise when it does not answer within 10 s.
    pub fn start() -> io::Result<RedisProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut redis = RedisProcess { child: None, port };
        redis.restart()?;
        Ok(redis)
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL): its clients see their connections reset.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A server that already exited cannot be killed; either way it is gone.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (killing it first if it runs), empty, and
    /// waits until it answers.
    ///
    /// # Errors
    ///
    /// As [`RedisProcess::start`].
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start redis-server: {e} (install it: apt-get install redis-server)"
                    ),
                )
            })?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if ping(self.port).is_ok() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("redis-server on port {port} did not answer within 10 s"),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// One `PING` on a plain socket: whether the server is up and answering.
fn ping(port: u16) -> io::Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
    stream.write_all(&redis::cmd("PING").get_packed_command())?;
    let mut reply = [0; 7];
    stream.read_exact(&mut reply)?;
    match redis::parse_redis_value(&reply) {
        Ok(redis::Value::SimpleString(pong)) if pong == "PONG" => Ok(()),
        other => Err(io::Error::other(format!("PING answered {other:?}"))),
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
