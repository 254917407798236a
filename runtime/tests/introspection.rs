//! "What is stuck?": `greenhub::threads()` lists every live green thread with its hub and
//! state, from a green thread or a plain OS thread, and `GREENHUB_DUMP_SIGNAL` prints the list
//! on stderr, naming a hub too busy to answer.

mod common;

use std::time::{Duration, Instant};

use greenhub::net::{TcpListener, TcpStream};
use greenhub::{ThreadInfo, ThreadState};

fn named(threads: &[ThreadInfo], name: &str) -> ThreadInfo {
    threads
        .iter()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no green thread named {name} in {threads:#?}"))
        .clone()
}

fn spawn_named<T: 'static>(name: &str, f: impl FnOnce() -> T + 'static) -> greenhub::JoinHandle<T> {
    greenhub::Builder::new().name(name.into()).spawn(f).unwrap()
}

fn parked_on(info: &ThreadInfo) -> (&'static str, Duration) {
    match info.state {
        ThreadState::Parked { on, for_at_least } => (on, for_at_least),
        other => panic!("{info} is {other:?}, not parked"),
    }
}

#[test]
fn threads_lists_every_green_thread_with_its_hub_and_what_it_waits_for() -> std::io::Result<()> {
    let rt = greenhub::Runtime::builder().hubs(2).build()?;
    rt.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server_side, _) = listener.accept()?;
        let (_keep_sender, receiver) = greenhub::sync::channel::<()>();
        let handles = vec![
            spawn_named("sleeper", || greenhub::sleep(Duration::from_secs(3600))),
            spawn_named("reader", move || {
                let mut byte = [0u8];
                let _ = std::io::Read::read(&mut &server_side, &mut byte);
            }),
            spawn_named("receiver", move || {
                let _ = receiver.recv();
            }),
            spawn_named("parker", || loop {
                greenhub::park();
            }),
        ];
        let on_hub_1 = greenhub::spawn_on(1, || {
            greenhub::sleep(Duration::from_secs(3600));
        });
        greenhub::sleep(Duration::from_millis(40));
        let fresh = spawn_named("fresh", || ());

        let threads = greenhub::threads();
        assert_eq!(named(&threads, "main").state, ThreadState::Running);
        assert_eq!(named(&threads, "fresh").state, ThreadState::Runnable);
        for (name, on) in [
            ("sleeper", "sleep"),
            ("reader", "io"),
            ("receiver", "sync"),
            ("parker", "park"),
        ] {
            let info = named(&threads, name);
            assert_eq!(info.hub, 0);
            let (seen_on, for_at_least) = parked_on(&info);
            assert_eq!(seen_on, on, "{info}");
            // Parked 40 ms ago; the clock is as coarse as the kernel's tick (4 ms at most).
            assert!(for_at_least >= Duration::from_millis(20), "{info}");
        }
        let remote = threads
            .iter()
            .find(|t| t.id == on_hub_1.thread().id())
            .expect("the green thread on hub 1");
        assert_eq!((remote.hub, parked_on(remote).0), (1, "sleep"));

        for handle in &handles {
            handle.cancel();
        }
        on_hub_1.cancel();
        fresh.join().unwrap();
        for handle in handles {
            assert!(handle.join().unwrap_err().is_cancelled());
        }
        let _ = on_hub_1.join();
        let left: Vec<_> = greenhub::threads().into_iter().map(|t| t.name).collect();
        assert_eq!(
            left,
            [Some("main".to_string())],
            "finished green threads are gone"
        );
        drop(client);
        Ok(())
    })
}

#[test]
fn threads_answers_a_plain_os_thread_while_hubs_run() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        let _worker = spawn_named("worker", || greenhub::sleep(Duration::from_secs(3600)));
        let seen = greenhub::unblock(greenhub::threads);
        let main = named(&seen, "main");
        assert_eq!(parked_on(&main).0, "io", "main waits for its unblock job");
        assert_eq!(parked_on(&named(&seen, "worker")).0, "sleep");
    });
    assert!(
        greenhub::threads()
            .iter()
            .all(|t| t.name.as_deref() != Some("worker")),
        "a runtime that stopped is listed no more"
    );
}

/// The dump on a signal, in a child process of its own (the signal handler is process-wide):
/// it lists the parked green thread and names the hub that is too busy to answer.
#[test]
fn the_dump_signal_prints_every_green_thread_and_names_a_busy_hub() {
    const TEST: &str = "the_dump_signal_prints_every_green_thread_and_names_a_busy_hub";
    if common::is_child(TEST) {
        let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
        rt.run(|| {
            let (_sender, receiver) = greenhub::sync::channel::<()>();
            let _stuck = spawn_named("stuck-one", move || {
                let _ = receiver.recv();
            });
            let busy = greenhub::spawn_on(1, || {
                let until = Instant::now() + Duration::from_millis(1500);
                while Instant::now() < until {
                    std::hint::spin_loop(); // never parks
                }
            });
            greenhub::sleep(Duration::from_millis(50));
            signal_hook::low_level::raise(signal_hook::consts::SIGUSR1).unwrap();
            greenhub::sleep(Duration::from_millis(800)); // the dump waits 200 ms for hub 1
            busy.join().unwrap();
        });
        println!("child finished");
        return;
    }
    let outcome = common::run_child(TEST, Duration::from_secs(30), |command| {
        command.env("GREENHUB_DUMP_SIGNAL", "SIGUSR1");
    });
    assert!(
        outcome.status.is_some_and(|s| s.success()),
        "{:?}\n{}",
        outcome.status,
        outcome.stderr
    );
    let stderr = &outcome.stderr;
    assert!(stderr.contains("dumped on signal"), "{stderr}");
    assert!(
        stderr.contains("green thread 'stuck-one' (id ") && stderr.contains("parked on sync"),
        "{stderr}"
    );
    assert!(stderr.contains("green thread 'main' (id "), "{stderr}");
    assert!(stderr.contains("hub 1 did not answer"), "{stderr}");
}
