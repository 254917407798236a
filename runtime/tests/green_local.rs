//! Green-thread-local storage: one value per green thread, never inherited, dropped when its
//! green thread ends however it ends, and per OS thread outside green threads.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use greenhub::net::{TcpListener, TcpStream};

greenhub::green_local! {
    static REQUEST_ID: RefCell<String> = RefCell::new(String::new());
    static COUNTER: Cell<u32> = Cell::new(0);
}

/// Per-request context set by each connection's handler: requests that share a hub and park
/// in the middle of their work (real sockets) each see only their own id, which with a
/// `thread_local!` would be whichever handler wrote last.
#[test]
fn requests_sharing_a_hub_never_see_each_others_context() -> std::io::Result<()> {
    greenhub::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = greenhub::spawn(move || -> std::io::Result<()> {
            let mut handlers = Vec::new();
            for _ in 0..8 {
                let (stream, _) = listener.accept()?;
                handlers.push(greenhub::spawn(move || -> std::io::Result<()> {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    reader.read_line(&mut line)?;
                    REQUEST_ID.with(|id| *id.borrow_mut() = line.trim().to_string());
                    // Park on the socket while the other handlers set their ids.
                    line.clear();
                    reader.read_line(&mut line)?;
                    let seen = REQUEST_ID.with(|id| id.borrow().clone());
                    (&stream).write_all(format!("{seen}\n").as_bytes())
                }));
            }
            for handler in handlers {
                handler.join().unwrap()?;
            }
            Ok(())
        });
        let clients: Vec<TcpStream> = (0..8)
            .map(|i| {
                let mut client = TcpStream::connect(addr)?;
                client.write_all(format!("request-{i}\n").as_bytes())?;
                Ok(client)
            })
            .collect::<std::io::Result<_>>()?;
        greenhub::sleep(Duration::from_millis(20)); // every handler has set its id
        for (i, mut client) in clients.into_iter().enumerate() {
            client.write_all(b"go\n")?;
            let mut answer = String::new();
            BufReader::new(&client).read_line(&mut answer)?;
            assert_eq!(answer.trim(), format!("request-{i}"));
        }
        server.join().unwrap()?;
        assert_eq!(REQUEST_ID.with(|id| id.borrow().clone()), "");
        Ok(())
    })
}

#[test]
fn a_child_starts_with_the_initial_value() {
    greenhub::run(|| {
        COUNTER.with(|c| c.set(7));
        let child = greenhub::spawn(|| {
            let start = COUNTER.with(|c| c.get());
            COUNTER.with(|c| c.set(99));
            start
        });
        assert_eq!(child.join().unwrap(), 0);
        assert_eq!(
            COUNTER.with(|c| c.get()),
            7,
            "the child's write leaked to its parent"
        );
    });
}

/// Green thread headers are recycled after a join: a new green thread in a recycled header (and
/// a reused slot) must start from the initial value, not the previous owner's.
#[test]
fn a_recycled_header_starts_with_the_initial_value() {
    greenhub::run(|| {
        for round in 0..2_000u32 {
            let seen = greenhub::spawn(move || {
                let seen = COUNTER.with(|c| c.get());
                COUNTER.with(|c| c.set(round + 1));
                seen
            })
            .join()
            .unwrap();
            assert_eq!(seen, 0, "round {round} saw a previous green thread's value");
        }
    });
}

static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct CountsDrops;
impl Drop for CountsDrops {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

greenhub::green_local!(static TRACKED: CountsDrops = CountsDrops);

#[test]
fn values_are_dropped_before_join_returns_however_the_green_thread_ends() {
    greenhub::run(|| {
        let before = DROPPED.load(Ordering::SeqCst);
        greenhub::spawn(|| TRACKED.with(|_| ())).join().unwrap();
        assert_eq!(DROPPED.load(Ordering::SeqCst), before + 1, "returned");

        let panicked = greenhub::spawn(|| {
            TRACKED.with(|_| ());
            panic!("handler failed");
        });
        assert!(panicked.join().unwrap_err().is_panic());
        assert_eq!(DROPPED.load(Ordering::SeqCst), before + 2, "panicked");

        let cancelled = greenhub::spawn(|| {
            TRACKED.with(|_| ());
            greenhub::sleep(Duration::from_secs(3600));
        });
        greenhub::yield_now();
        cancelled.cancel();
        assert!(cancelled.join().unwrap_err().is_cancelled());
        assert_eq!(DROPPED.load(Ordering::SeqCst), before + 3, "cancelled");

        let untouched = greenhub::spawn(|| ());
        untouched.join().unwrap();
        assert_eq!(
            DROPPED.load(Ordering::SeqCst),
            before + 3,
            "never used: never made"
        );
    });
}

static SLOW_DROP_DONE: AtomicUsize = AtomicUsize::new(0);

/// A value whose destructor parks (flushing a log over a socket, say).
struct ParksInDrop;
impl Drop for ParksInDrop {
    fn drop(&mut self) {
        greenhub::sleep(Duration::from_millis(10));
        SLOW_DROP_DONE.fetch_add(1, Ordering::SeqCst);
    }
}

struct PanicsInDrop;
impl Drop for PanicsInDrop {
    fn drop(&mut self) {
        panic!("a green-local destructor failed");
    }
}

greenhub::green_local! {
    static PARKS: ParksInDrop = ParksInDrop;
    static PANICS: PanicsInDrop = PanicsInDrop;
}

/// A cancelled green thread whose value parks in its destructor: the cancel does not cut the
/// destructor short (the green thread is finishing), and a neighbour's value that panics on drop
/// neither loses the other values nor changes the join's outcome.
#[test]
fn destructors_that_park_finish_and_one_that_panics_loses_nothing() {
    greenhub::run(|| {
        let cancelled = greenhub::spawn(|| {
            PARKS.with(|_| ());
            greenhub::sleep(Duration::from_secs(3600));
        });
        greenhub::yield_now();
        cancelled.cancel();
        greenhub::yield_now();
        cancelled.cancel(); // again, while its destructor sleeps
        assert!(cancelled.join().unwrap_err().is_cancelled());
        assert_eq!(SLOW_DROP_DONE.load(Ordering::SeqCst), 1);

        let value = greenhub::spawn(|| {
            PANICS.with(|_| ());
            PARKS.with(|_| ());
            42
        });
        assert_eq!(value.join().unwrap(), 42);
        assert_eq!(SLOW_DROP_DONE.load(Ordering::SeqCst), 2);
    });
}

static LATE_DROPS: AtomicUsize = AtomicUsize::new(0);

struct ReadsAnotherOnDrop;
impl Drop for ReadsAnotherOnDrop {
    fn drop(&mut self) {
        LATE.with(|_| ());
    }
}

struct Late;
impl Drop for Late {
    fn drop(&mut self) {
        LATE_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

greenhub::green_local! {
    static READS_ON_DROP: ReadsAnotherOnDrop = ReadsAnotherOnDrop;
    static LATE: Late = Late;
}

#[test]
fn a_value_made_by_a_destructor_is_dropped_too() {
    greenhub::run(|| {
        greenhub::spawn(|| READS_ON_DROP.with(|_| ()))
            .join()
            .unwrap();
        assert_eq!(LATE_DROPS.load(Ordering::SeqCst), 1);
    });
}

static OS_DROPS: AtomicUsize = AtomicUsize::new(0);

struct OsValue(Cell<u32>);
impl Drop for OsValue {
    fn drop(&mut self) {
        OS_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

greenhub::green_local!(static PER_OS_THREAD: OsValue = OsValue(Cell::new(0)));

#[test]
fn outside_green_threads_each_os_thread_has_its_own_value_dropped_at_exit() {
    let threads: Vec<_> = (1..=4)
        .map(|n| {
            std::thread::spawn(move || {
                PER_OS_THREAD.with(|v| v.0.set(n));
                std::thread::sleep(Duration::from_millis(5));
                PER_OS_THREAD.with(|v| v.0.get())
            })
        })
        .collect();
    let seen: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(seen, [1, 2, 3, 4]);
    assert_eq!(OS_DROPS.load(Ordering::SeqCst), 4);
}
