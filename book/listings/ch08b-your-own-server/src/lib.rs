//! The listings of the chapter "Writing your own server": the API a server needs (spawn, join,
//! cancel, `timeout`, channels and `Select`, `StreamServer`, `unblock`, signals,
//! `greenhub::io::stdin`, the blocking detector) and the traps (a std call that blocks the hub,
//! a `RefCell` borrow held across a park, `Send` where a handler is shared between hubs).
//! Each is a program in `src/bin/`; the tests run them and compare what they print with
//! `output/`.
//!
//! What the programs share lives here: a ticker, the other green thread on the hub whose ticks
//! show whether the hub is free.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Spawns a green thread that adds one to the returned counter every `every`, as long as its
/// hub lets it run. The counter is an `Rc<Cell>`: both green threads live on one hub.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// greenhub::run(|| {
///     let ticks = ch08b_your_own_server::ticker(Duration::from_millis(1));
///     greenhub::sleep(Duration::from_millis(20));
///     assert!(ticks.get() > 0);
/// });
/// ```
pub fn ticker(every: Duration) -> Rc<Cell<u32>> {
    let ticks = Rc::new(Cell::new(0));
    let counter = ticks.clone();
    greenhub::spawn(move || loop {
        greenhub::sleep(every);
        counter.set(counter.get() + 1);
    });
    ticks
}

// ANCHOR: counting
/// A server that counts its connections. The handler runs on whichever hub accepted the
/// connection, possibly several at once, so what it shares must be `Send + Sync`: an
/// `Arc<AtomicUsize>`, not an `Rc<Cell<usize>>`.
///
/// # Errors
///
/// When `addr` cannot be bound.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::Ordering;
/// greenhub::run(|| -> std::io::Result<()> {
///     let (server, served) = ch08b_your_own_server::counting_server("127.0.0.1:0")?;
///     drop(greenhub::net::TcpStream::connect(server.local_addr())?);
///     greenhub::sleep(std::time::Duration::from_millis(50));
///     assert_eq!(served.load(Ordering::Relaxed), 1);
///     server.stop(std::time::Duration::from_secs(1));
///     Ok(())
/// })
/// # .unwrap();
/// ```
pub fn counting_server(
    addr: &str,
) -> std::io::Result<(
    greenhub::ServerHandle,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let server = greenhub::StreamServer::bind(addr, move |_stream, _peer| {
        count.fetch_add(1, Ordering::Relaxed);
    })?
    .on_all_hubs()
    .start()?;
    Ok((server, served))
}
// ANCHOR_END: counting
