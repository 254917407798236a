//! A `chat-server` child process, for the tools that measure one: `chat-load --hubs` and
//! `chat-soak`. It is started on `127.0.0.1:0` and the address is read from its banner.

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
