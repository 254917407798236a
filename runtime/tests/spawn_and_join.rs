//! Spawning green threads and collecting their values, panics and names.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn a_closure_owning_an_rc_can_be_spawned() {
    let total = greenhub::run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let log = log.clone();
                greenhub::spawn(move || {
                    greenhub::yield_now();
                    log.borrow_mut().push(i);
                    i * 2
                })
            })
            .collect();
        let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(log.borrow().len(), 10);
        sum
    });
    assert_eq!(total, 90);
}

#[test]
fn join_returns_the_value_or_the_panic_payload() {
    greenhub::run(|| {
        assert_eq!(
            greenhub::spawn(|| String::from("value")).join().unwrap(),
            "value"
        );
        let seven = std::hint::black_box(7);
        let err = greenhub::spawn(move || -> u8 { panic!("payload {seven}") })
            .join()
            .unwrap_err();
        assert!(err.is_panic() && !err.is_cancelled());
        assert_eq!(err.to_string(), "green thread panicked: payload 7");
        assert_eq!(*err.into_panic().downcast::<String>().unwrap(), "payload 7");
    });
}

#[test]
fn a_panic_does_not_take_the_hub_or_other_green_threads_down() {
    greenhub::run(|| {
        let steady = greenhub::spawn(|| {
            let mut ticks = 0;
            for _ in 0..20 {
                greenhub::sleep(Duration::from_millis(1));
                ticks += 1;
            }
            ticks
        });
        for _ in 0..5 {
            let _ = greenhub::spawn(|| panic!("one bad green thread")).join();
        }
        assert_eq!(steady.join().unwrap(), 20);
    });
}

#[test]
fn join_works_from_another_green_thread_and_from_a_plain_thread() {
    greenhub::run(|| {
        let target = greenhub::spawn(|| {
            greenhub::sleep(Duration::from_millis(5));
            5
        });
        let joiner = greenhub::spawn(move || target.join().unwrap() + 1);
        assert_eq!(joiner.join().unwrap(), 6);

        let remote = greenhub::spawn_on(1 % greenhub::hub_count().unwrap(), || {
            greenhub::sleep(Duration::from_millis(5));
            "from a hub"
        });
        let plain = std::thread::spawn(move || remote.join().unwrap());
        // The plain thread blocks in std park; keep this hub free meanwhile.
        assert_eq!(
            greenhub::unblock(move || plain.join().unwrap()),
            "from a hub"
        );
    });
}

#[test]
fn builder_sets_name_and_stack_size() -> std::io::Result<()> {
    greenhub::run(|| {
        let handle = greenhub::Builder::new()
            .name("big".into())
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                // Use more than the default stack to prove the size was honoured.
                let buf = [7u8; 1024 * 1024];
                let sum: u64 = std::hint::black_box(&buf).iter().map(|&b| b as u64).sum();
                (greenhub::current().name().map(String::from), sum)
            })?;
        assert_eq!(handle.thread().name(), Some("big"));
        let (name, sum) = handle.join().unwrap();
        assert_eq!(name.as_deref(), Some("big"));
        assert_eq!(sum, 7 * 1024 * 1024);
        Ok(())
    })
}

#[test]
fn a_stack_that_cannot_be_mapped_is_an_error_naming_max_map_count() {
    greenhub::run(|| {
        let err = greenhub::Builder::new()
            .stack_size(1 << 60)
            .spawn(|| ())
            .expect_err("an exabyte stack cannot be mapped");
        assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
        let text = err.to_string();
        assert!(text.contains("vm.max_map_count"), "{text}");
        assert!(text.contains("sysctl"), "{text}");
    });
}

#[test]
fn spawn_on_runs_on_the_named_hub() {
    let rt = greenhub::Runtime::builder().hubs(3).build().unwrap();
    rt.run(|| {
        let hubs: Vec<_> = (0..3)
            .map(|i| greenhub::spawn_on(i, greenhub::current_hub))
            .collect();
        let seen: Vec<_> = hubs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(seen, vec![Some(0), Some(1), Some(2)]);
    });
}

#[test]
fn ids_are_unique_and_main_is_named() {
    greenhub::run(|| {
        let main = greenhub::current();
        assert_eq!(main.name(), Some("main"));
        let child = greenhub::spawn(|| greenhub::current().id()).join().unwrap();
        assert_ne!(child, main.id());
    });
}

#[test]
fn is_finished_reports_completion() {
    greenhub::run(|| {
        let handle = greenhub::spawn(|| greenhub::sleep(Duration::from_millis(5)));
        assert!(!handle.is_finished());
        greenhub::sleep(Duration::from_millis(20));
        assert!(handle.is_finished());
        handle.join().unwrap();
    });
}

#[test]
fn run_returns_the_main_value_and_can_run_again() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    assert_eq!(rt.run(|| 1), 1);
    assert_eq!(rt.run(|| greenhub::spawn(|| 2).join().unwrap()), 2);
}

#[test]
fn a_panicking_main_green_thread_panics_run() {
    let caught = std::panic::catch_unwind(|| greenhub::run(|| panic!("main failed")));
    let payload = caught.expect_err("run must panic");
    assert_eq!(*payload.downcast::<&str>().unwrap(), "main failed");
}

#[test]
fn invalid_configurations_are_refused() {
    let err = greenhub::Runtime::builder().hubs(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = greenhub::Runtime::builder()
        .stack_size(1024)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn thirty_thousand_green_threads_sleep_at_once() {
    let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
    let woke = rt.run(|| {
        let handles: Vec<_> = (0..30_000)
            .map(|_| greenhub::spawn(|| greenhub::sleep(Duration::from_millis(50))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().is_ok() as usize)
            .sum::<usize>()
    });
    assert_eq!(woke, 30_000);
}
