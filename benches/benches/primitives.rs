//! Primitive costs, each peer in the same criterion group and run: yield, spawn + join, and
//! park/unpark ping-pong between two green threads (or tasks, or coroutines) on one thread.
//!
//! Each measurement runs inside its runtime and times only the loop (`iter_custom`), so runtime
//! start-up and teardown stay out of the numbers.
//!
//! `corosensei_floor` is not a peer but the floor under greenhub: the same work done by bare
//! corosensei coroutines with none of a runtime's features (no cancellation, timers, unwinding
//! bookkeeping or overflow detection), so it is what the hardware and corosensei allow.

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use criterion::{criterion_group, criterion_main, Criterion};
use greenhub_benches::peers::{
    criterion_config, greenhub_timed, may_timed, timed_loop, timed_loop_async, tokio_timed,
};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn yield_now(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_now");
    group.bench_function("greenhub", |b| {
        b.iter_custom(|iters| greenhub_timed(move || timed_loop(iters, |_| greenhub::yield_now())))
    });
    group.bench_function("may", |b| {
        b.iter_custom(|iters| may_timed(move || timed_loop(iters, |_| may::coroutine::yield_now())))
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| tokio_timed(timed_loop_async(iters, |_| tokio::task::yield_now())))
    });
    group.bench_function("std_thread", |b| b.iter(std::thread::yield_now));
    group.finish();
}

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    group.bench_function("greenhub", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || timed_loop(iters, |_| greenhub::spawn(|| ()).join().unwrap()))
        })
    });
    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_timed(move || timed_loop(iters, |_| may::go!(|| ()).join().unwrap()))
        })
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            tokio_timed(timed_loop_async(iters, |_| async {
                tokio::spawn(async {}).await.unwrap()
            }))
        })
    });
    group.bench_function("std_thread", |b| {
        b.iter(|| std::thread::spawn(|| ()).join().unwrap())
    });
    group.bench_function("corosensei_floor", |b| b.iter_custom(floor_spawn_join));
    group.finish();
}

/// A stack as greenhub's green threads get by default.
fn floor_stack() -> DefaultStack {
    DefaultStack::new(greenhub::DEFAULT_STACK_SIZE).expect("a stack")
}

/// The floor of spawn + join: a stack from a pool, a coroutine on it resumed to completion, its
/// result taken and its stack given back. No task header, join packet or run queue.
fn floor_spawn_join(iters: u64) -> Duration {
    let mut pool = vec![floor_stack()];
    timed_loop(iters, |_| {
        let stack = pool.pop().unwrap_or_else(floor_stack);
        let mut green = Coroutine::with_stack(stack, |_: &Yielder<(), ()>, ()| ());
        let CoroutineResult::Return(result) = green.resume(()) else {
            unreachable!("the body never suspends")
        };
        black_box(result);
        pool.push(green.into_stack());
    })
}

fn park_unpark_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("park_unpark_ping_pong");
    group.bench_function("greenhub", |b| {
        b.iter_custom(|iters| {
            greenhub_timed(move || {
                let turn = Arc::new(AtomicU64::new(0));
                let (main, theirs) = (greenhub::current(), turn.clone());
                let partner = greenhub::spawn(move || {
                    partner_side(iters, &theirs, greenhub::park, || main.unpark())
                });
                greenhub::yield_now(); // the partner starts and parks
                let partner_thread = partner.thread();
                let elapsed = main_side(iters, &turn, greenhub::park, || partner_thread.unpark());
                partner.join().unwrap();
                elapsed
            })
        })
    });
    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_timed(move || {
                let turn = Arc::new(AtomicU64::new(0));
                let (main, theirs) = (may::coroutine::current(), turn.clone());
                let partner = may::go!(move || {
                    partner_side(iters, &theirs, may::coroutine::park, || main.unpark())
                });
                may::coroutine::yield_now();
                let partner_co = partner.coroutine().clone();
                let elapsed = main_side(iters, &turn, may::coroutine::park, || partner_co.unpark());
                partner.join().unwrap();
                elapsed
            })
        })
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            tokio_timed(async move {
                use tokio::sync::Notify;
                let (ping, pong) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
                let (their_ping, their_pong) = (ping.clone(), pong.clone());
                let partner = tokio::spawn(async move {
                    for _ in 0..iters {
                        their_ping.notified().await;
                        their_pong.notify_one();
                    }
                });
                let start = Instant::now();
                for _ in 0..iters {
                    ping.notify_one();
                    pong.notified().await;
                }
                let elapsed = start.elapsed();
                partner.await.unwrap();
                elapsed
            })
        })
    });
    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| {
            let turn = Arc::new(AtomicU64::new(0));
            let (main, theirs) = (std::thread::current(), turn.clone());
            let partner = std::thread::spawn(move || {
                partner_side(iters, &theirs, std::thread::park, || main.unpark())
            });
            let partner_thread = partner.thread().clone();
            let elapsed = main_side(iters, &turn, std::thread::park, || partner_thread.unpark());
            partner.join().unwrap();
            elapsed
        })
    });
    group.bench_function("corosensei_floor", |b| b.iter_custom(floor_ping_pong));
    group.finish();
}

/// A run queue of coroutine keys, all a floor's hub loop has.
type RunQueue = Rc<RefCell<VecDeque<usize>>>;

/// The floor of a park/unpark ping-pong: two coroutines on a hub loop that is only a run queue,
/// where a wake is a push and a park is a suspend; the same turns as the peers.
fn floor_ping_pong(iters: u64) -> Duration {
    const MAIN: usize = 0;
    const PARTNER: usize = 1;
    let run_queue: RunQueue = Rc::new(RefCell::new(VecDeque::with_capacity(4)));
    let waker = |key: usize| {
        let run_queue = run_queue.clone();
        move || run_queue.borrow_mut().push_back(key)
    };
    let turn = Arc::new(AtomicU64::new(0));
    let theirs = turn.clone();
    let (wake_main, wake_partner) = (waker(MAIN), waker(PARTNER));
    let elapsed = Rc::new(Cell::new(Duration::ZERO));
    let main_elapsed = elapsed.clone();
    let main = Coroutine::with_stack(floor_stack(), move |yielder: &Yielder<(), ()>, ()| {
        main_elapsed.set(main_side(
            iters,
            &turn,
            || yielder.suspend(()),
            wake_partner,
        ));
    });
    let partner = Coroutine::with_stack(floor_stack(), move |yielder: &Yielder<(), ()>, ()| {
        partner_side(iters, &theirs, || yielder.suspend(()), wake_main);
    });
    let mut coroutines = [Some(main), Some(partner)];
    run_queue.borrow_mut().extend([PARTNER, MAIN]); // the partner starts and parks first
    loop {
        // Not `while let`: its borrow of the queue would last through the resume.
        let Some(key) = run_queue.borrow_mut().pop_front() else {
            break;
        };
        if let Some(CoroutineResult::Return(())) = coroutines[key].as_mut().map(|c| c.resume(())) {
            coroutines[key] = None;
        }
    }
    elapsed.get()
}

/// One side of the ping-pong: odd turns are the partner's, even turns the main side's. Each
/// side parks until the turn is its own, so spurious wake-ups are harmless.
fn partner_side(iters: u64, turn: &AtomicU64, park: impl Fn(), wake_main: impl Fn()) {
    for round in 0..iters {
        while turn.load(Ordering::Acquire) != 2 * round + 1 {
            park();
        }
        turn.store(2 * round + 2, Ordering::Release);
        wake_main();
    }
}

/// The timed side of the ping-pong; see [`partner_side`].
fn main_side(iters: u64, turn: &AtomicU64, park: impl Fn(), wake_partner: impl Fn()) -> Duration {
    let start = Instant::now();
    for round in 0..iters {
        turn.store(2 * round + 1, Ordering::Release);
        wake_partner();
        while turn.load(Ordering::Acquire) != 2 * round + 2 {
            park();
        }
    }
    start.elapsed()
}

criterion_group! { name = benches; config = criterion_config(30); targets = yield_now, spawn_join, park_unpark_ping_pong }
criterion_main!(benches);
