//! `unblock` runs blocking work on OS threads while the hub keeps serving green threads.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn the_hub_keeps_running_while_blocking_work_runs() {
    let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
    rt.run(|| {
        let ticks = Rc::new(Cell::new(0));
        let counter = ticks.clone();
        let ticker = greenhub::spawn(move || {
            for _ in 0..10 {
                greenhub::sleep(Duration::from_millis(5));
                counter.set(counter.get() + 1);
            }
        });
        let thread_name = greenhub::unblock(|| {
            std::thread::sleep(Duration::from_millis(150));
            std::thread::current().name().map(String::from)
        });
        assert_eq!(thread_name.as_deref(), Some("greenhub-blocking"));
        assert_eq!(ticks.get(), 10, "the hub was blocked while unblock ran");
        ticker.join().unwrap();
    });
}

#[test]
fn a_panic_in_blocking_work_resumes_in_the_caller() {
    greenhub::run(|| {
        let err = greenhub::spawn(|| greenhub::unblock(|| -> u8 { panic!("in the pool") }))
            .join()
            .unwrap_err();
        assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "in the pool");
    });
}

#[test]
fn many_blocking_calls_at_once() {
    greenhub::run(|| {
        let handles: Vec<_> = (0..64u64)
            .map(|i| {
                greenhub::spawn(move || {
                    greenhub::unblock(move || {
                        std::thread::sleep(Duration::from_millis(10));
                        i
                    })
                })
            })
            .collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 63 * 64 / 2);
    });
}
