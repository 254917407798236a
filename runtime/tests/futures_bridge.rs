//! The futures bridge: `block_on` inside green threads (and on plain OS threads), its waker
//! called from anywhere, any number of times, or never; timeouts and cancellation drop the
//! pending future. And the other way round: a tokio-only client on a side runtime, waited for
//! with a channel or `unblock`, while the hub keeps serving its own sockets.

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use greenhub::net::TcpListener;

/// Pending until `ready` is set; leaves its waker in `waker` for whoever sets it.
#[derive(Clone, Default)]
struct Gate {
    ready: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    polls: Arc<AtomicUsize>,
}

impl Gate {
    fn open(&self) {
        self.ready.store(true, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().as_ref() {
            waker.wake_by_ref();
        }
    }
}

impl Future for Gate {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let polls = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.ready.load(Ordering::SeqCst) {
            Poll::Ready(polls)
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn a_future_woken_from_another_os_thread_lets_the_hub_run_others_meanwhile() {
    greenhub::run(|| {
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let ticks = ticks.clone();
            greenhub::spawn(move || loop {
                ticks.fetch_add(1, Ordering::SeqCst);
                greenhub::sleep(Duration::from_millis(1));
            })
        };
        let gate = Gate::default();
        let opener = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                gate.open();
            })
        };
        assert!(greenhub::block_on(gate) >= 2);
        assert!(
            ticks.load(Ordering::SeqCst) >= 1,
            "the hub stalled in block_on"
        );
        opener.join().unwrap();
        ticker.cancel();
    });
}

/// tokio's sync channels need no tokio runtime: an executor-agnostic future, fed by a green
/// thread on another hub.
#[test]
fn an_executor_agnostic_future_fed_from_another_hub() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        greenhub::spawn_on(1, move || {
            greenhub::sleep(Duration::from_millis(5));
            tx.send(greenhub::current_hub()).unwrap();
        });
        assert_eq!(greenhub::block_on(rx).unwrap(), Some(1));
    });
}

/// The waker is called a thousand times from another thread, racing the completion and going
/// on after `block_on` returned: the green thread is neither stuck nor confused later on.
#[test]
fn a_waker_called_many_times_and_after_completion_is_harmless() {
    greenhub::run(|| {
        let gate = Gate::default();
        let stop = Arc::new(AtomicBool::new(false));
        let hammer = {
            let (gate, stop) = (gate.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut calls = 0usize;
                while !stop.load(Ordering::SeqCst) || calls < 1000 {
                    let waker = gate.waker.lock().unwrap().clone();
                    if let Some(waker) = waker {
                        waker.wake();
                        calls += 1;
                        if calls == 500 {
                            gate.open();
                        }
                    }
                    std::thread::yield_now();
                }
            })
        };
        greenhub::block_on(gate.clone());
        // Wakes keep coming for a while: sleeps and joins still wait as long as they should.
        let start = std::time::Instant::now();
        greenhub::sleep(Duration::from_millis(10));
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert_eq!(greenhub::spawn(|| 5).join().unwrap(), 5);
        stop.store(true, Ordering::SeqCst);
        greenhub::unblock(move || hammer.join().unwrap());
    });
}

/// Ready on the first poll, never touching its waker; and one that drops it.
#[test]
fn a_waker_never_called_is_fine() {
    greenhub::run(|| {
        assert_eq!(greenhub::block_on(async { 3 }), 3);
        let gate = Gate::default();
        gate.ready.store(true, Ordering::SeqCst);
        assert_eq!(greenhub::block_on(gate), 1);
    });
}

/// Counts its drops; pending forever.
struct Forever(Arc<AtomicUsize>);
impl Future for Forever {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}
impl Drop for Forever {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_timeout_or_a_cancel_drops_the_pending_future() {
    greenhub::run(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let future = Forever(drops.clone());
        let waited = greenhub::timeout(Duration::from_millis(10), || greenhub::block_on(future));
        assert!(waited.is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 1);

        let future = Forever(drops.clone());
        let waiter = greenhub::spawn(move || greenhub::block_on(future));
        greenhub::yield_now();
        waiter.cancel();
        assert!(waiter.join().unwrap_err().is_cancelled());
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn outside_a_runtime_block_on_blocks_the_os_thread() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        tx.send("from a thread").unwrap();
    });
    assert_eq!(greenhub::block_on(rx).unwrap(), "from a thread");
    sender.join().unwrap();
}

/// Stands in for a crate that only works on tokio: its client needs tokio's reactor.
async fn tokio_only_client(addr: std::net::SocketAddr, line: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let talk = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(format!("{line}\n").as_bytes()).await?;
        let mut answer = String::new();
        tokio::io::BufReader::new(stream)
            .read_line(&mut answer)
            .await?;
        Ok(answer.trim().to_string())
    };
    // If the greenhub side stalled its hub, the server below could not answer: fail, not hang.
    tokio::time::timeout(Duration::from_secs(10), talk)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// The pattern for a tokio-only crate: run it on a side tokio runtime and wait for its result
/// with a greenhub channel, or with `unblock` and tokio's `Handle::block_on`. The echo server it
/// talks to is a green thread on the same hub as the waiter, so a wait that blocked the hub
/// would leave the client unanswered.
#[test]
fn a_tokio_only_client_on_a_side_runtime_does_not_stall_the_hub() -> std::io::Result<()> {
    let side = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let handle = side.handle().clone();
    greenhub::run(move || {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        greenhub::spawn(move || -> std::io::Result<()> {
            for client in listener.incoming() {
                let client = client?;
                greenhub::spawn(move || -> std::io::Result<()> {
                    let mut line = String::new();
                    BufReader::new(&client).read_line(&mut line)?;
                    (&client).write_all(format!("echo {line}").as_bytes())
                });
            }
            Ok(())
        });

        // With a channel: the tokio task sends, the green thread parks in `recv`.
        let (tx, rx) = greenhub::sync::bounded(1);
        handle.spawn(async move {
            let _ = tx.send(tokio_only_client(addr, "one").await);
        });
        assert_eq!(rx.recv().unwrap()?, "echo one");

        // With `unblock`: a blocking-pool thread waits in tokio's `block_on`.
        let on_pool = handle.clone();
        let answer = greenhub::unblock(move || on_pool.block_on(tokio_only_client(addr, "two")));
        assert_eq!(answer?, "echo two");
        Ok::<(), std::io::Error>(())
    })?;
    side.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
