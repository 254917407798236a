//! The primitives again with the peers' multi-threaded configurations: may with all workers and
//! tokio's multi-thread runtime (each in its own process, since may's worker count is fixed
//! once per process). greenhub runs with one hub per core here; its spawn and yield stay local
//! to the calling hub, as do may's and tokio's when they can.

use criterion::{criterion_group, criterion_main, Criterion};
use greenhub_benches::peers::{criterion_config, timed_loop, timed_loop_async};
use std::future::Future;
use std::time::Duration;

fn tokio_multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `future` as a task on a worker of a multi-thread runtime with one worker per core, as
/// the other peers run their bodies on one of their workers rather than on a blocked caller.
fn tokio_all_workers<F>(future: F) -> Duration
where
    F: Future<Output = Duration> + Send + 'static,
{
    tokio_multi_thread().block_on(async move { tokio::spawn(future).await.unwrap() })
}

fn greenhub_all_hubs<F: FnOnce() -> Duration + 'static>(f: F) -> Duration {
    greenhub::Runtime::builder().build().unwrap().run(f)
}

fn may_all_workers<F: FnOnce() -> Duration + Send + 'static>(f: F) -> Duration {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        may::config().set_workers(cores);
    });
    may::go!(f).join().unwrap()
}

fn yield_now(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_now");
    group.bench_function("greenhub_all_hubs", |b| {
        b.iter_custom(|iters| {
            greenhub_all_hubs(move || timed_loop(iters, |_| greenhub::yield_now()))
        })
    });
    group.bench_function("may_all_workers", |b| {
        b.iter_custom(|iters| {
            may_all_workers(move || timed_loop(iters, |_| may::coroutine::yield_now()))
        })
    });
    group.bench_function("tokio_multi_thread", |b| {
        b.iter_custom(|iters| {
            tokio_all_workers(timed_loop_async(iters, |_| tokio::task::yield_now()))
        })
    });
    group.finish();
}

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    group.bench_function("greenhub_all_hubs", |b| {
        b.iter_custom(|iters| {
            greenhub_all_hubs(move || timed_loop(iters, |_| greenhub::spawn(|| ()).join().unwrap()))
        })
    });
    group.bench_function("may_all_workers", |b| {
        b.iter_custom(|iters| {
            may_all_workers(move || timed_loop(iters, |_| may::go!(|| ()).join().unwrap()))
        })
    });
    group.bench_function("tokio_multi_thread", |b| {
        b.iter_custom(|iters| {
            tokio_all_workers(timed_loop_async(iters, |_| async {
                tokio::spawn(async {}).await.unwrap()
            }))
        })
    });
    group.finish();
}

criterion_group! { name = benches; config = criterion_config(20); targets = yield_now, spawn_join }
criterion_main!(benches);
