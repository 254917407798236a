//! Echo servers, one per contender, each answering every read with the same bytes. Each runs on
//! one thread (one hub, one may worker, tokio current_thread, one epoll loop) and prints its
//! address on stdout once it listens.

use crate::peers::greenhub_one_hub_server;
use crate::process::{announce, unknown_contender};
use std::io::{self, Read, Write};

/// The contenders built here, in the order the driver interleaves them. `greenhub_all_hubs`
/// runs one hub per core, unpinned; the others run on one thread pinned to one CPU.
pub const CONTENDERS: [&str; 5] = ["greenhub", "greenhub_all_hubs", "tokio", "may", "epoll"];

/// Serves echo forever on `addr` with the named implementation.
pub fn serve(contender: &str, addr: &str) -> io::Result<()> {
    match contender {
        "greenhub" => greenhub_server(addr),
        "greenhub_all_hubs" => greenhub_all_hubs_server(addr),
        "tokio" => tokio_server(addr),
        "may" => may_server(addr),
        "epoll" => epoll_server(addr),
        other => Err(unknown_contender(other)),
    }
}

fn greenhub_server(addr: &str) -> io::Result<()> {
    greenhub_one_hub_server(addr, |listener| {
        for client in listener.incoming() {
            let mut client = client?;
            client.set_nodelay(true)?;
            greenhub::spawn(move || -> io::Result<()> {
                let mut buf = [0u8; 4096];
                loop {
                    let n = client.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    client.write_all(&buf[..n])?;
                }
            });
        }
        Ok(())
    })
}

/// One `SO_REUSEPORT` listener per hub; the kernel spreads the connections.
fn greenhub_all_hubs_server(addr: &str) -> io::Result<()> {
    let addr = addr.to_string();
    greenhub::Runtime::builder()
        .build()?
        .run(move || -> io::Result<()> {
            let server = greenhub::StreamServer::bind(addr.as_str(), |mut client, _| {
                let _ = client.set_nodelay(true);
                let mut buf = [0u8; 4096];
                while let Ok(n) = client.read(&mut buf) {
                    if n == 0 || client.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            })?
            .on_all_hubs()
            .start()?;
            announce(server.local_addr());
            loop {
                greenhub::sleep(std::time::Duration::from_secs(3600)); // serve until killed
            }
        })
}

fn tokio_server(addr: &str) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        announce(listener.local_addr()?);
        loop {
            let (mut client, _) = listener.accept().await?;
            client.set_nodelay(true)?;
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if client.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

fn may_server(addr: &str) -> io::Result<()> {
    crate::peers::may_one_worker();
    let addr = addr.to_string();
    may::go!(move || -> io::Result<()> {
        let listener = may::net::TcpListener::bind(addr.as_str())?;
        announce(listener.local_addr()?);
        for client in listener.incoming() {
            let mut client = client?;
            client.set_nodelay(true)?;
            may::go!(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if client.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(())
    })
    .join()
    .map_err(|_| io::Error::other("the may server panicked"))?
}

/// The limit: one thread, one epoll instance, no runtime. Level-triggered, a fixed buffer per
/// connection, written by hand the way a C programmer would.
fn epoll_server(addr: &str) -> io::Result<()> {
    use std::collections::HashMap;
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    announce(listener.local_addr()?);
    // SAFETY: epoll_create1 has no pointer arguments.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Err(io::Error::last_os_error());
    }
    let add = |fd: i32| {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: a valid epoll descriptor and a valid event pointer.
        unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) };
    };
    add(listener.as_raw_fd());
    let mut clients: HashMap<i32, std::net::TcpStream> = HashMap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `events` has room for its length of entries.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1) };
        for event in &events[..n.max(0) as usize] {
            let fd = event.u64 as i32;
            if fd == listener.as_raw_fd() {
                while let Ok((client, _)) = listener.accept() {
                    client.set_nonblocking(true)?;
                    client.set_nodelay(true)?;
                    add(client.as_raw_fd());
                    clients.insert(client.as_raw_fd(), client);
                }
                continue;
            }
            let Some(client) = clients.get_mut(&fd) else {
                continue;
            };
            match client.read(&mut buf) {
                Ok(0) => {
                    clients.remove(&fd);
                }
                Ok(n) => {
                    // 64-byte replies always fit the send buffer of a ping-pong client.
                    if client.write_all(&buf[..n]).is_err() {
                        clients.remove(&fd);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    clients.remove(&fd);
                }
            }
        }
    }
}
