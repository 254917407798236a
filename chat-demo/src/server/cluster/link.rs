//! One connection to Redis on a greenhub socket. The `redis` crate (built without its own
//! networking) does the protocol: [`redis::Cmd`] packs commands, [`redis::Parser`] reads
//! values, [`redis::FromRedisValue`] converts them. Only the bytes move through a greenhub
//! [`TcpStream`], so a command parks the green thread that sent it, never the hub.
//!
//! ```text
//!   Cmd::get_packed_command ──write──► greenhub TcpStream ──read──► redis::Parser ──► Value
//! ```
//!
//! [`Link`] implements the crate's [`ConnectionLike`], so `cmd.query(&mut link)` and
//! `redis::pipe().query(&mut link)` work as they would on the crate's own connection.

use greenhub::net::TcpStream;
use redis::{Cmd, ConnectionAddr, ConnectionInfo, ConnectionLike, RedisResult, Value};
use std::io::{self, Write};
use std::net::ToSocketAddrs;
use std::time::Duration;

/// How long a connect may take before Redis counts as away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A Redis connection on a greenhub socket.
pub(crate) struct Link {
    stream: TcpStream,
    /// Keeps what it read past one value for the next: one parser for the connection's life.
    parser: redis::Parser,
    db: i64,
    open: bool,
    /// Which subscription of the cluster this link was made under (see `Cluster::epoch`).
    pub(crate) epoch: u64,
}

impl Link {
    /// Connects to the server `info` names, logs in and selects its database, with replies
    /// awaited for at most `reply_timeout` (`None`: as long as it takes).
    pub(crate) fn connect(
        info: &ConnectionInfo,
        reply_timeout: Option<Duration>,
    ) -> RedisResult<Link> {
        let (host, port) = match &info.addr {
            ConnectionAddr::Tcp(host, port) => (host.as_str(), *port),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("only redis:// over TCP is supported, not {other}"),
                )
                .into())
            }
        };
        // Name resolution of a literal address does not block; a host name is looked up once
        // per connect, on the blocking pool.
        let target = (host.to_string(), port);
        let addrs: Vec<_> = greenhub::unblock(move || target.to_socket_addrs())?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(reply_timeout)?;
                    stream.set_write_timeout(Some(
                        CONNECT_TIMEOUT.max(reply_timeout.unwrap_or_default()),
                    ))?;
                    let mut link = Link {
                        stream,
                        parser: redis::Parser::new(),
                        db: info.redis.db,
                        open: true,
                        epoch: 0,
                    };
                    link.log_in(info)?;
                    return Ok(link);
                }
                Err(err) => last = err,
            }
        }
        Err(last.into())
    }

    fn log_in(&mut self, info: &ConnectionInfo) -> RedisResult<()> {
        if let Some(password) = &info.redis.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(username) = &info.redis.username {
                auth.arg(username);
            }
            auth.arg(password).exec(self)?;
        }
        if info.redis.db != 0 {
            redis::cmd("SELECT").arg(info.redis.db).exec(self)?;
        }
        Ok(())
    }

    /// Writes a packed command (or several) without waiting for a reply.
    pub(crate) fn send_packed(&mut self, bytes: &[u8]) -> RedisResult<()> {
        let written = (&self.stream).write_all(bytes);
        if written.is_err() {
            self.open = false;
        }
        Ok(written?)
    }

    /// Sends `cmd` without waiting for its reply (pub/sub's `SUBSCRIBE` and `PING`).
    pub(crate) fn send(&mut self, cmd: &Cmd) -> RedisResult<()> {
        self.send_packed(&cmd.get_packed_command())
    }

    /// The next value the server sends: a reply, or a message pushed to a subscriber.
    ///
    /// # Errors
    ///
    /// A read timeout is an I/O error of kind `TimedOut` (or `WouldBlock`) that leaves the
    /// connection usable: the parser keeps what it read of a value and goes on from there. Any
    /// other error marks the connection closed.
    pub(crate) fn recv(&mut self) -> RedisResult<Value> {
        let value = self.parser.parse_value(&self.stream);
        if let Err(err) = &value {
            if !err.is_timeout() {
                self.open = false;
            }
        }
        value
    }
}

// ANCHOR: link
impl ConnectionLike for Link {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.send_packed(cmd)?;
        let reply = self.recv();
        if reply.is_err() {
            // A reply that did not come in time may still come: the next command would read
            // it as its own. The connection is of no further use.
            self.open = false;
        }
        reply
    }
    // ANCHOR_END: link

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.send_packed(cmd)?;
        let mut replies = Vec::with_capacity(count);
        for i in 0..offset + count {
            let reply = self.recv();
            if reply.is_err() {
                self.open = false;
            }
            let reply = reply?;
            if i >= offset {
                replies.push(reply);
            }
        }
        Ok(replies)
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<String>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}
