//! Coordination costs, peers in the same group and run: channel ping-pong on one thread and
//! between two threads, a stream of small messages between two hubs (or OS threads), 10,000
//! timers, and `timeout` overhead.

use criterion::{criterion_group, criterion_main, Criterion};
use greenhub_benches::peers::{
    criterion_config, greenhub_timed, may_timed, timed_loop, timed_loop_async, tokio_timed,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Where a peer runs the other side of a measurement: a green thread on this hub or another, a
/// may coroutine, an OS thread. A trait rather than a closure because the body's type is known
/// only inside the generic bench body; a generic method keeps that body unboxed.
trait Spawner: Copy {
    type Handle;
    fn spawn<F: FnOnce() + Send + 'static>(self, body: F) -> Self::Handle;
    /// Waits for the body, passing its panic on.
    fn join(handle: Self::Handle);
}

/// `greenhub::spawn`: a green thread on the calling hub.
#[derive(Clone, Copy)]
struct GreenThread;

/// `greenhub::spawn_on`: a green thread on the given hub.
#[derive(Clone, Copy)]
struct OnHub(usize);

/// `may::go!`: a may coroutine.
#[derive(Clone, Copy)]
struct Coroutine;

/// `std::thread::spawn`: an OS thread.
#[derive(Clone, Copy)]
struct OsThread;

impl Spawner for GreenThread {
    type Handle = greenhub::JoinHandle<()>;
    fn spawn<F: FnOnce() + Send + 'static>(self, body: F) -> Self::Handle {
        greenhub::spawn(body)
    }
    fn join(handle: Self::Handle) {
        handle.join().unwrap();
    }
}

impl Spawner for OnHub {
    type Handle = greenhub::JoinHandle<()>;
    fn spawn<F: FnOnce() + Send + 'static>(self, body: F) -> Self::Handle {
        greenhub::spawn_on(self.0, body)
    }
    fn join(handle: Self::Handle) {
        handle.join().unwrap();
    }
}

impl Spawner for Coroutine {
    type Handle = may::coroutine::JoinHandle<()>;
    fn spawn<F: FnOnce() + Send + 'static>(self, body: F) -> Self::Handle {
        may::go!(body)
    }
    fn join(handle: Self::Handle) {
        handle.join().unwrap();
    }
}

impl Spawner for OsThread {
    type Handle = std::thread::JoinHandle<()>;
    fn spawn<F: FnOnce() + Send + 'static>(self, body: F) -> Self::Handle {
        std::thread::spawn(body)
    }
    fn join(handle: Self::Handle) {
        handle.join().unwrap();
    }
}

/// The sending end of a peer's blocking channel of `u64`. Every peer spells it `send`, but
/// only a trait lets one generic body call them all.
trait SendEnd: Send + 'static {
    fn send_value(&self, value: u64);
}

/// The receiving end: `None` once every sender is gone.
trait RecvEnd: Send + 'static {
    fn recv_value(&self) -> Option<u64>;
}

/// Implements the ends as the inherent `send(..).unwrap()` and `recv().ok()` of each type.
macro_rules! channel_ends {
    (send: $($tx:ty),*; recv: $($rx:ty),*;) => {
        $(impl SendEnd for $tx {
            #[inline]
            fn send_value(&self, value: u64) {
                self.send(value).unwrap();
            }
        })*
        $(impl RecvEnd for $rx {
            #[inline]
            fn recv_value(&self) -> Option<u64> {
                self.recv().ok()
            }
        })*
    };
}

channel_ends! {
    send: greenhub::sync::Sender<u64>, may::sync::mpsc::Sender<u64>, std::sync::mpsc::Sender<u64>,
        std::sync::mpsc::SyncSender<u64>, crossbeam_channel::Sender<u64>;
    recv: greenhub::sync::Receiver<u64>, may::sync::mpsc::Receiver<u64>,
        std::sync::mpsc::Receiver<u64>, crossbeam_channel::Receiver<u64>;
}

/// `iters` round trips through an echo started by `spawner`, over two channels made by
/// `channel`: one body for every blocking peer, which differ only in what they pass in.
fn ping_pong<S, T, R>(iters: u64, spawner: S, channel: impl Fn() -> (T, R)) -> Duration
where
    S: Spawner,
    T: SendEnd,
    R: RecvEnd,
{
    let (ping_tx, ping_rx) = channel();
    let (pong_tx, pong_rx) = channel();
    let echo = spawner.spawn(move || {
        while let Some(value) = ping_rx.recv_value() {
            pong_tx.send_value(value);
        }
    });
    let elapsed = timed_loop(iters, |i| {
        ping_tx.send_value(i);
        black_box(pong_rx.recv_value().unwrap());
    });
    drop(ping_tx);
    S::join(echo);
    elapsed
}

/// `iters` round trips through an echo task on whatever runtime awaits this.
async fn tokio_ping_pong(iters: u64) -> Duration {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let echo = tokio::spawn(async move {
        while let Some(value) = ping_rx.recv().await {
            pong_tx.send(value).unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).unwrap();
        black_box(pong_rx.recv().await.unwrap());
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    echo.await.unwrap();
    elapsed
}

fn channel_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel_ping_pong");
    group.bench_function("greenhub", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || ping_pong(iters, GreenThread, greenhub::sync::channel))
        })
    });
    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_timed(move || ping_pong(iters, Coroutine, may::sync::mpsc::channel))
        })
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| tokio_timed(tokio_ping_pong(iters)))
    });
    group.finish();
}

/// A stream of `iters` values from a producer started by `spawner` to this side, through the
/// bounded channel `(tx, rx)`: one body for every blocking peer. The producer's start is timed.
fn stream<S, T, R>(iters: u64, spawner: S, (tx, rx): (T, R)) -> Duration
where
    S: Spawner,
    T: SendEnd,
    R: RecvEnd,
{
    let start = Instant::now();
    let producer = spawner.spawn(move || {
        for i in 0..iters {
            tx.send_value(i);
        }
    });
    for _ in 0..iters {
        black_box(rx.recv_value().unwrap());
    }
    let elapsed = start.elapsed();
    S::join(producer);
    elapsed
}

/// Time per message of a stream of small messages from one hub (or thread) to another.
fn cross_hub_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("cross_hub_stream");
    group.bench_function("greenhub_two_hubs", |b| {
        b.iter_custom(|iters| {
            greenhub_two_hubs(move || stream(iters, OnHub(1), greenhub::sync::bounded(1024)))
        })
    });
    group.bench_function("std_mpsc_two_threads", |b| {
        b.iter_custom(|iters| stream(iters, OsThread, std::sync::mpsc::sync_channel(1024)))
    });
    group.bench_function("tokio_multi_thread", |b| {
        b.iter_custom(|iters| {
            tokio_multi_thread().block_on(async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1024);
                let start = Instant::now();
                let producer = tokio::spawn(async move {
                    for i in 0..iters {
                        tx.send(i).await.unwrap();
                    }
                });
                for _ in 0..iters {
                    black_box(rx.recv().await.unwrap());
                }
                let elapsed = start.elapsed();
                producer.await.unwrap();
                elapsed
            })
        })
    });
    group.bench_function("crossbeam_two_threads", |b| {
        b.iter_custom(|iters| stream(iters, OsThread, crossbeam_channel::bounded(1024)))
    });
    group.finish();
}

/// Runs `f` as the main green thread of a two-hub runtime, so that hub 1 is another core's.
fn greenhub_two_hubs(f: impl FnOnce() -> Duration + 'static) -> Duration {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(f)
}

fn tokio_multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Round trip of a value sent to another hub (or OS thread) and sent back: every message
/// crosses cores, so this is the price of a wake on another CPU.
fn channel_ping_pong_across_hubs(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel_ping_pong_across_hubs");
    group.bench_function("greenhub_two_hubs", |b| {
        b.iter_custom(|iters| {
            greenhub_two_hubs(move || ping_pong(iters, OnHub(1), greenhub::sync::channel))
        })
    });
    group.bench_function("std_mpsc_two_threads", |b| {
        b.iter_custom(|iters| ping_pong(iters, OsThread, std::sync::mpsc::channel))
    });
    group.bench_function("crossbeam_two_threads", |b| {
        b.iter_custom(|iters| ping_pong(iters, OsThread, crossbeam_channel::unbounded))
    });
    group.bench_function("tokio_multi_thread", |b| {
        b.iter_custom(|iters| tokio_multi_thread().block_on(tokio_ping_pong(iters)))
    });
    group.finish();
}

/// How many sleepers one round of `timers_10k` starts.
const SLEEPERS: u64 = 10_000;

/// The deadline of sleeper `i`: a hundred steps over 1 ms.
fn delay(i: u64) -> Duration {
    Duration::from_nanos(1_000_000 * (i % 100) / 100)
}

/// Starts the [`SLEEPERS`] with `spawner`, each calling its peer's `sleep`, and joins them all.
/// `sleep` is a function item, so the call stays direct.
fn sleep_and_join<S: Spawner>(spawner: S, sleep: impl Fn(Duration) + Copy + Send + 'static) {
    let sleepers: Vec<_> = (0..SLEEPERS)
        .map(|i| spawner.spawn(move || sleep(delay(i))))
        .collect();
    for sleeper in sleepers {
        S::join(sleeper);
    }
}

/// [`sleep_and_join`] for tokio tasks.
async fn tokio_sleep_and_join() {
    let sleepers: Vec<_> = (0..SLEEPERS)
        .map(|i| tokio::spawn(tokio::time::sleep(delay(i))))
        .collect();
    for sleeper in sleepers {
        sleeper.await.unwrap();
    }
}

/// 10,000 sleepers with deadlines spread over 1 ms, all woken and joined: the timer heap's
/// insert, expiry and wake costs at scale. Reported per iteration (all 10,000).
fn timers_10k(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers_10k");
    group.bench_function("greenhub", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || {
                timed_loop(iters, |_| sleep_and_join(GreenThread, greenhub::sleep))
            })
        })
    });
    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_timed(move || {
                timed_loop(iters, |_| sleep_and_join(Coroutine, may::coroutine::sleep))
            })
        })
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| tokio_timed(timed_loop_async(iters, |_| tokio_sleep_and_join())))
    });
    group.bench_function("greenhub_warm_pool", |b| {
        // The same, with the hub's stack pool warm: one unmeasured round first. (Each sample
        // above starts a new runtime, so its first round maps and faults in 10,000 stacks.)
        b.iter_custom(|iters| {
            greenhub_timed(move || {
                sleep_and_join(GreenThread, greenhub::sleep);
                timed_loop(iters, |_| sleep_and_join(GreenThread, greenhub::sleep))
            })
        })
    });
    // Criterion calls the closure below once per sample, so the floor's stacks live outside it
    // and stay warm from sample to sample.
    let mut floor = SleepersFloor::default();
    group.bench_function("corosensei_floor", |b| {
        b.iter_custom(|iters| timed_loop(iters, |_| floor.round()))
    });
    group.finish();
}

/// The floor of `timers_10k` for stackful coroutines: 10,000 bare corosensei coroutines on
/// stacks kept from the previous round (a warm pool), each "sleeping" by leaving its deadline in a binary
/// heap and suspending, resumed by a loop that sleeps the OS thread until the next deadline
/// (rounded up to a millisecond, as tokio's timer rounds).
/// No runtime features at all (no cancellation, timeouts, wakes from other threads, I/O,
/// overflow reports); what is left is what 10,000 separate stacks cost to start, switch to
/// twice and finish.
#[derive(Default)]
struct SleepersFloor {
    stacks: Vec<corosensei::stack::DefaultStack>,
}

impl SleepersFloor {
    fn round(&mut self) {
        use corosensei::{stack::DefaultStack, Coroutine, CoroutineResult};
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        type Sleeper = Coroutine<(), Instant, (), DefaultStack>;
        let start = Instant::now();
        let mut sleepers: Vec<Option<Sleeper>> = Vec::with_capacity(SLEEPERS as usize);
        let mut due = BinaryHeap::with_capacity(SLEEPERS as usize);
        for i in 0..SLEEPERS {
            let stack = match self.stacks.pop() {
                Some(stack) => stack,
                None => DefaultStack::new(256 * 1024).expect("a stack"),
            };
            let mut sleeper = Coroutine::with_stack(stack, move |yielder, ()| {
                yielder.suspend(start + delay(i));
            });
            match sleeper.resume(()) {
                CoroutineResult::Yield(deadline) => due.push(Reverse((deadline, i as usize))),
                CoroutineResult::Return(()) => unreachable!("a sleeper sleeps first"),
            }
            sleepers.push(Some(sleeper));
        }
        while let Some(Reverse((deadline, key))) = due.pop() {
            // Sleep to the next whole millisecond, as tokio's timer does, so that a hundred
            // deadlines cost one or two sleeps rather than a hundred.
            let now = Instant::now();
            if deadline > now {
                let millis = (deadline - start).as_nanos().div_ceil(1_000_000) as u64;
                std::thread::sleep((start + Duration::from_millis(millis)) - now);
            }
            let mut sleeper = sleepers[key].take().expect("resumed once");
            assert!(matches!(sleeper.resume(()), CoroutineResult::Return(())));
            self.stacks.push(sleeper.into_stack());
        }
    }
}

/// What `timeout` adds around a call that finishes in time.
fn timeout_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("timeout_overhead");
    group.bench_function("greenhub_timeout", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || {
                timed_loop(iters, |i| {
                    black_box(greenhub::timeout(Duration::from_secs(1), || black_box(i)).unwrap());
                })
            })
        })
    });
    group.bench_function("no_timeout", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || {
                timed_loop(iters, |i| {
                    black_box(black_box(i));
                })
            })
        })
    });
    group.bench_function("clock_read_floor", |b| {
        // A timeout must learn when "now" is to place its deadline (tokio's does too): one
        // monotonic clock read is its floor.
        b.iter_custom(|iters| {
            timed_loop(iters, |_| {
                black_box(Instant::now());
            })
        })
    });
    group.bench_function("tokio_timeout", |b| {
        b.iter_custom(|iters| {
            tokio_timed(timed_loop_async(iters, |i| async move {
                black_box(
                    tokio::time::timeout(Duration::from_secs(1), async { black_box(i) })
                        .await
                        .unwrap(),
                );
            }))
        })
    });
    group.finish();
}

criterion_group! { name = benches; config = criterion_config(20); targets = channel_ping_pong, channel_ping_pong_across_hubs, cross_hub_stream, timers_10k, timeout_overhead }
criterion_main!(benches);
