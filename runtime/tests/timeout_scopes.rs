//! greenhub::timeout: deadline scopes that interrupt any park inside them.

use greenhub::net::{TcpListener, TcpStream};
use std::io::Read;
use std::time::{Duration, Instant};

#[test]
fn a_scope_interrupts_sockets_channels_locks_sleep_and_join() -> std::io::Result<()> {
    greenhub::run(|| -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        let _server_side = listener.accept()?;
        let short = Duration::from_millis(20);
        assert!(greenhub::timeout(short, || client.read(&mut [0u8; 8])).is_err());
        let (_tx, rx) = greenhub::sync::channel::<u8>();
        assert!(greenhub::timeout(short, || rx.recv()).is_err());
        let mutex = greenhub::sync::Mutex::new(());
        let _held = mutex.try_lock().unwrap();
        assert!(greenhub::timeout(short, || drop(mutex.lock())).is_err());
        let forever = greenhub::spawn(|| loop {
            greenhub::park();
        });
        assert!(greenhub::timeout(short, || forever.join().is_ok()).is_err());
        // The socket is still usable after its read was interrupted.
        client.set_read_timeout(Some(short))?;
        assert_eq!(
            client.read(&mut [0u8; 8]).unwrap_err().kind(),
            std::io::ErrorKind::TimedOut
        );
        Ok(())
    })
}

#[test]
fn nested_scopes_the_earliest_deadline_wins_and_belongs_to_its_scope() {
    greenhub::run(|| {
        // Inner deadline earlier: the inner scope reports it, the outer goes on.
        let outer = greenhub::timeout(Duration::from_secs(5), || {
            let inner = greenhub::timeout(Duration::from_millis(10), || {
                greenhub::sleep(Duration::from_secs(5))
            });
            assert!(inner.is_err());
            "outer finished"
        });
        assert_eq!(outer, Ok("outer finished"));

        // Outer deadline earlier: the inner scope does not catch it; the outer does.
        let start = Instant::now();
        let outer = greenhub::timeout(Duration::from_millis(10), || {
            let _inner: Result<(), _> = greenhub::timeout(Duration::from_secs(5), || {
                greenhub::sleep(Duration::from_secs(5))
            });
            unreachable!("the outer expiry unwinds through the inner scope");
        });
        assert!(outer.is_err());
        assert!(start.elapsed() < Duration::from_secs(4));
    });
}

#[test]
fn destructors_run_when_a_scope_expires_and_a_finished_scope_leaves_nothing_armed() {
    greenhub::run(|| {
        struct Flag(std::rc::Rc<std::cell::Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = Flag(dropped.clone());
        let result = greenhub::timeout(Duration::from_millis(5), move || {
            let _flag = flag;
            greenhub::sleep(Duration::from_secs(5));
        });
        assert!(result.is_err() && dropped.get());

        // A scope that ended in time must not fire later.
        assert_eq!(greenhub::timeout(Duration::from_millis(5), || 1), Ok(1));
        greenhub::sleep(Duration::from_millis(20));
    });
}

#[test]
fn a_panic_inside_a_scope_is_not_swallowed() {
    greenhub::run(|| {
        let handle =
            greenhub::spawn(|| greenhub::timeout(Duration::from_secs(1), || panic!("real bug")));
        assert!(handle.join().unwrap_err().is_panic());
    });
}

/// CPU time of the calling OS thread.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for clock_gettime to fill.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(result, 0);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// A scope arms its timer only while its green thread parks. A destructor that waits while its
/// green thread unwinds out of an expired scope is not interrupted again, and must not be woken
/// again and again by that scope either: its hub stays asleep until the destructor's wait ends.
#[test]
fn a_destructor_waiting_inside_an_expired_scope_does_not_spin() {
    greenhub::Runtime::builder()
        .hubs(1)
        .build()
        .unwrap()
        .run(|| {
            let (tx, rx) = greenhub::sync::channel::<()>();
            let victim = greenhub::spawn(move || {
                struct WaitsOnDrop(greenhub::sync::Receiver<()>);
                impl Drop for WaitsOnDrop {
                    fn drop(&mut self) {
                        let _ = self.0.recv();
                    }
                }
                greenhub::timeout(Duration::from_millis(1), || {
                    let _waits = WaitsOnDrop(rx);
                    greenhub::sleep(Duration::from_secs(3600));
                })
            });
            greenhub::sleep(Duration::from_millis(50)); // the scope expired; the destructor waits
            let before = thread_cpu_time();
            greenhub::sleep(Duration::from_millis(300));
            let used = thread_cpu_time() - before;
            tx.send(()).unwrap();
            assert!(victim.join().unwrap().is_err(), "the scope expired");
            assert!(
                used < Duration::from_millis(150),
                "the hub spun while the destructor waited: {used:?} of CPU in 300 ms"
            );
        });
}

/// A scope that expires between a wait's look for an interruption and its park (the sync waits
/// look under their lock, then register, unlock and park) still ends the wait: the park sees
/// the expired scope and returns instead of sleeping with no timer to end it.
#[test]
fn a_scope_expiring_just_before_the_park_still_ends_the_wait() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        greenhub::Runtime::builder()
            .hubs(1)
            .build()
            .unwrap()
            .run(|| {
                let (_tx, rx) = greenhub::sync::channel::<u32>();
                let lock = greenhub::sync::Mutex::new(());
                let condvar = greenhub::sync::Condvar::new();
                for i in 0..3_000u64 {
                    // Deadlines of 0 to 3 us land anywhere in the wait's own steps.
                    let deadline = Duration::from_nanos(i * 37 % 3_000);
                    let _ = greenhub::timeout(deadline, || rx.recv());
                    let _ = greenhub::timeout(deadline, greenhub::park);
                    let _ = greenhub::timeout(deadline, || drop(condvar.wait(lock.lock())));
                }
            });
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(60)).is_ok(),
        "a wait inside an expired scope slept with nothing to wake it"
    );
}
