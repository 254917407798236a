//! 10,000 concurrent TCP connections on one hub. The server side lives in this process and the
//! clients in a child process (this test binary re-run), so each process needs about 10,000
//! descriptors. The test raises RLIMIT_NOFILE where it may, and skips with a message saying what
//! was skipped where the limit is too low and cannot be raised.

use greenhub::net::{TcpListener, TcpStream};
use std::io::{self, Read, Write};
use std::process::Command;

const CONNECTIONS: usize = 10_000;
const CHILD: &str = "GREENHUB_MANY_CLIENTS_ADDR";

/// Raises the soft descriptor limit towards `wanted` (and the hard one, when permitted).
fn raise_fd_limit(wanted: u64) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit get valid pointers to rlimit structs.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(format!("getrlimit failed: {}", io::Error::last_os_error()));
        }
        if limit.rlim_cur >= wanted {
            return Ok(());
        }
        let both = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max.max(wanted),
        };
        let soft = libc::rlimit {
            rlim_cur: wanted.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &both) == 0 {
            return Ok(());
        }
        if soft.rlim_cur >= wanted && libc::setrlimit(libc::RLIMIT_NOFILE, &soft) == 0 {
            return Ok(());
        }
    }
    Err(format!(
        "the descriptor limit is {} (hard {}) and cannot be raised to {wanted}",
        limit.rlim_cur, limit.rlim_max
    ))
}

/// The child: connect every client, then send one byte on each and read it back.
fn run_clients(addr: &str) -> io::Result<()> {
    raise_fd_limit(CONNECTIONS as u64 + 256).map_err(io::Error::other)?;
    let rt = greenhub::Runtime::builder().hubs(1).build()?;
    let addr = addr.to_string();
    rt.run(move || -> io::Result<()> {
        let clients: Vec<TcpStream> = (0..CONNECTIONS)
            .map(|_| TcpStream::connect(addr.as_str()))
            .collect::<io::Result<_>>()?;
        for (i, mut client) in clients.iter().enumerate() {
            client.write_all(&[(i % 251) as u8])?;
        }
        for (i, mut client) in clients.iter().enumerate() {
            let mut byte = [0u8; 1];
            client.read_exact(&mut byte)?;
            assert_eq!(
                byte[0],
                (i % 251) as u8,
                "client {i} got another client's byte"
            );
        }
        Ok(())
    })
}

#[test]
fn ten_thousand_connections_on_one_hub() -> io::Result<()> {
    if let Ok(addr) = std::env::var(CHILD) {
        return run_clients(&addr);
    }
    if let Err(why) = raise_fd_limit(CONNECTIONS as u64 + 256) {
        eprintln!("skipped ten_thousand_connections_on_one_hub: {why}");
        return Ok(());
    }
    let rt = greenhub::Runtime::builder().hubs(1).build()?;
    rt.run(|| -> io::Result<()> {
        let listener = TcpListener::bind_with_backlog("127.0.0.1:0", 4096)?;
        let addr = listener.local_addr()?;
        let exe = std::env::current_exe()?;
        let child = greenhub::spawn(move || {
            greenhub::unblock(move || {
                Command::new(exe)
                    .args([
                        "--exact",
                        "ten_thousand_connections_on_one_hub",
                        "--nocapture",
                    ])
                    .env(CHILD, addr.to_string())
                    .output()
            })
        });
        let mut served = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let (mut stream, _) = listener.accept()?;
            // One green thread per connection, all parked in read at the same time.
            served.push(greenhub::spawn(move || -> io::Result<()> {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte)?;
                stream.write_all(&byte)
            }));
        }
        let output = child.join().unwrap()?;
        assert!(
            output.status.success(),
            "client process failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let echoed = served
            .into_iter()
            .filter_map(|h| h.join().ok())
            .filter(Result::is_ok)
            .count();
        assert_eq!(
            echoed, CONNECTIONS,
            "every server green thread echoed its byte"
        );
        Ok(())
    })
}
