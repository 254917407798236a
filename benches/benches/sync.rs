//! Coordination costs, peers in the same group and run: channel ping-pong on one thread and
//! between two threads, a stream of small messages between two hubs (or OS threads), 10,000
//! timers, and `timeout` overhead.

use criterion::{criterion_group, criterion_main, Criterion};
use greenhub_benches::peers::{greenhub_timed, may_timed, tokio_timed};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// `iters` round trips through an echo green thread started by `start` (on this hub or another).
fn greenhub_ping_pong(
    iters: u64,
    start: impl FnOnce(Box<dyn FnOnce() + Send>) -> greenhub::JoinHandle<()>,
) -> Duration {
    let (ping_tx, ping_rx) = greenhub::sync::channel::<u64>();
    let (pong_tx, pong_rx) = greenhub::sync::channel::<u64>();
    let echo = start(Box::new(move || {
        for value in ping_rx.iter() {
            pong_tx.send(value).unwrap();
        }
    }));
    let begin = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).unwrap();
        black_box(pong_rx.recv().unwrap());
    }
    let elapsed = begin.elapsed();
    drop(ping_tx);
    echo.join().unwrap();
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
        b.iter_custom(|iters| greenhub_timed(move || greenhub_ping_pong(iters, greenhub::spawn)))
    });
    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_timed(move || {
                let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
                let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
                let echo = may::go!(move || {
                    while let Ok(value) = ping_rx.recv() {
                        pong_tx.send(value).unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send(i).unwrap();
                    black_box(pong_rx.recv().unwrap());
                }
                let elapsed = start.elapsed();
                drop(ping_tx);
                echo.join().unwrap();
                elapsed
            })
        })
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| tokio_timed(tokio_ping_pong(iters)))
    });
    group.finish();
}

/// Time per message of a stream of small messages from one hub (or thread) to another.
fn cross_hub_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("cross_hub_stream");
    group.bench_function("greenhub_two_hubs", |b| {
        b.iter_custom(|iters| {
            let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
            rt.run(move || {
                let (tx, rx) = greenhub::sync::bounded::<u64>(1024);
                let start = Instant::now();
                let producer = greenhub::spawn_on(1, move || {
                    for i in 0..iters {
                        tx.send(i).unwrap();
                    }
                });
                for _ in 0..iters {
                    black_box(rx.recv().unwrap());
                }
                let elapsed = start.elapsed();
                producer.join().unwrap();
                elapsed
            })
        })
    });
    group.bench_function("std_mpsc_two_threads", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(1024);
            let start = Instant::now();
            let producer = std::thread::spawn(move || {
                for i in 0..iters {
                    tx.send(i).unwrap();
                }
            });
            for _ in 0..iters {
                black_box(rx.recv().unwrap());
            }
            let elapsed = start.elapsed();
            producer.join().unwrap();
            elapsed
        })
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
        b.iter_custom(|iters| {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
            let start = Instant::now();
            let producer = std::thread::spawn(move || {
                for i in 0..iters {
                    tx.send(i).unwrap();
                }
            });
            for _ in 0..iters {
                black_box(rx.recv().unwrap());
            }
            let elapsed = start.elapsed();
            producer.join().unwrap();
            elapsed
        })
    });
    group.finish();
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
            let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
            rt.run(move || greenhub_ping_pong(iters, |echo| greenhub::spawn_on(1, echo)))
        })
    });
    group.bench_function("std_mpsc_two_threads", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = std::sync::mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = std::sync::mpsc::channel::<u64>();
            let echo = std::thread::spawn(move || {
                for value in ping_rx.iter() {
                    pong_tx.send(value).unwrap();
                }
            });
            let start = Instant::now();
            for i in 0..iters {
                ping_tx.send(i).unwrap();
                black_box(pong_rx.recv().unwrap());
            }
            let elapsed = start.elapsed();
            drop(ping_tx);
            echo.join().unwrap();
            elapsed
        })
    });
    group.bench_function("crossbeam_two_threads", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = crossbeam_channel::unbounded::<u64>();
            let (pong_tx, pong_rx) = crossbeam_channel::unbounded::<u64>();
            let echo = std::thread::spawn(move || {
                for value in ping_rx.iter() {
                    pong_tx.send(value).unwrap();
                }
            });
            let start = Instant::now();
            for i in 0..iters {
                ping_tx.send(i).unwrap();
                black_box(pong_rx.recv().unwrap());
            }
            let elapsed = start.elapsed();
            drop(ping_tx);
            echo.join().unwrap();
            elapsed
        })
    });
    group.bench_function("tokio_multi_thread", |b| {
        b.iter_custom(|iters| tokio_multi_thread().block_on(tokio_ping_pong(iters)))
    });
    group.finish();
}

/// 10,000 sleepers with deadlines spread over 1 ms, all woken and joined: the timer heap's
/// insert, expiry and wake costs at scale. Reported per iteration (all 10,000).
fn timers_10k(c: &mut Criterion) {
    const SLEEPERS: u64 = 10_000;
    let delay = |i: u64| Duration::from_nanos(1_000_000 * (i % 100) / 100);
    let mut group = c.benchmark_group("timers_10k");
    group.bench_function("greenhub", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    let sleepers: Vec<_> = (0..SLEEPERS)
                        .map(|i| greenhub::spawn(move || greenhub::sleep(delay(i))))
                        .collect();
                    for sleeper in sleepers {
                        sleeper.join().unwrap();
                    }
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_timed(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    let sleepers: Vec<_> = (0..SLEEPERS)
                        .map(|i| may::go!(move || may::coroutine::sleep(delay(i))))
                        .collect();
                    for sleeper in sleepers {
                        sleeper.join().unwrap();
                    }
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            tokio_timed(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let sleepers: Vec<_> = (0..SLEEPERS)
                        .map(|i| tokio::spawn(tokio::time::sleep(delay(i))))
                        .collect();
                    for sleeper in sleepers {
                        sleeper.await.unwrap();
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// What `timeout` adds around a call that finishes in time.
fn timeout_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("timeout_overhead");
    group.bench_function("greenhub_timeout", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(greenhub::timeout(Duration::from_secs(1), || black_box(i)).unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("no_timeout", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(black_box(i));
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio_timeout", |b| {
        b.iter_custom(|iters| {
            tokio_timed(async move {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(
                        tokio::time::timeout(Duration::from_secs(1), async { black_box(i) })
                            .await
                            .unwrap(),
                    );
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = channel_ping_pong, channel_ping_pong_across_hubs, cross_hub_stream, timers_10k, timeout_overhead }
criterion_main!(benches);
