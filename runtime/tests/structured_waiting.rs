//! Structured waiting: `TaskSet::join_next` returns whichever member finishes first and never
//! loses one to a cancel or a timeout; a set cancels its members when dropped, so cancelling a
//! green thread reaches the set it owns; `spawn_later`.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenhub::net::{TcpListener, TcpStream};
use greenhub::sync::{channel, TaskSet};

/// Members that each wait on their own connection: the one whose client writes first finishes
/// first, whatever order they were spawned in.
#[test]
fn join_next_returns_the_member_whose_socket_was_ready_first() -> std::io::Result<()> {
    greenhub::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let clients: Vec<TcpStream> = (0..3)
            .map(|_| TcpStream::connect(addr))
            .collect::<std::io::Result<_>>()?;
        let set = TaskSet::new();
        for member in 0..3u8 {
            let (mut stream, _) = listener.accept()?;
            set.spawn(move || -> std::io::Result<(u8, u8)> {
                let mut byte = [0u8];
                stream.read_exact(&mut byte)?;
                Ok((member, byte[0]))
            });
        }
        for i in [2usize, 0, 1] {
            (&clients[i]).write_all(&[i as u8 * 10])?;
            let (member, byte) = set.join_next().expect("a member is left").unwrap()?;
            assert_eq!((member as usize, byte), (i, i as u8 * 10));
        }
        assert!(set.join_next().is_none());
        Ok(())
    })
}

/// The joiner is cancelled while parked in `join_next`, before any member finished: it unwinds,
/// and the member that finishes afterwards is there for the next `join_next`.
#[test]
fn a_join_next_cancelled_before_a_member_finished_leaves_it_for_the_next() {
    greenhub::run(|| {
        let set = Rc::new(TaskSet::new());
        let (release, released) = channel::<()>();
        set.spawn(move || {
            released.recv().unwrap();
            7
        });
        let joiner = {
            let set = set.clone();
            greenhub::spawn(move || set.join_next().map(|r| r.unwrap()))
        };
        greenhub::yield_now(); // the joiner parks in join_next
        joiner.cancel();
        assert!(joiner.join().unwrap_err().is_cancelled());
        release.send(()).unwrap();
        assert_eq!(set.join_next().unwrap().unwrap(), 7);
        assert!(set.join_next().is_none());
    });
}

/// A member finishes and wakes the joiner, which is then cancelled before it gets to run: the
/// member's result has been handed over, so `join_next` returns it (the cancel acts at the next
/// park), rather than unwinding and dropping it.
#[test]
fn a_join_next_cancelled_as_a_member_finishes_returns_that_member() {
    greenhub::run(|| {
        let set = Rc::new(TaskSet::new());
        let (release, released) = channel::<()>();
        set.spawn(move || {
            released.recv().unwrap();
            7
        });
        let joiner = {
            let set = set.clone();
            greenhub::spawn(move || set.join_next().map(|r| r.unwrap()))
        };
        greenhub::yield_now(); // the member waits on the channel, the joiner in join_next
        release.send(()).unwrap();
        greenhub::yield_now(); // the member finishes and wakes the joiner
        joiner.cancel();
        match joiner.join() {
            Ok(result) => assert_eq!(result, Some(7)),
            Err(err) => panic!("the joiner lost its member's result: {err:?}"),
        }
        assert!(set.is_empty());
    });
}

#[test]
fn a_join_next_whose_timeout_expires_loses_nothing() {
    greenhub::run(|| {
        let set = TaskSet::new();
        set.spawn(|| {
            greenhub::sleep(Duration::from_millis(30));
            "late"
        });
        let early = greenhub::timeout(Duration::from_millis(5), || set.join_next());
        assert!(early.is_err());
        assert_eq!(set.len(), 1);
        assert_eq!(set.join_next().unwrap().unwrap(), "late");
    });
}

/// Counts how many of the members it was moved into have been dropped (finished or unwound).
struct Gone(Rc<Cell<u32>>);
impl Drop for Gone {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Yields until `count` reaches `expected`, for at most five seconds.
fn wait_for(count: &Cell<u32>, expected: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while count.get() != expected {
        assert!(Instant::now() < deadline, "{} of {expected}", count.get());
        greenhub::sleep(Duration::from_millis(1));
    }
}

#[test]
fn cancelling_the_owner_cancels_the_members_of_its_set_as_it_unwinds() {
    greenhub::run(|| {
        let gone = Rc::new(Cell::new(0));
        let owner = {
            let gone = gone.clone();
            greenhub::spawn(move || {
                let set = TaskSet::new();
                for _ in 0..5 {
                    let guard = Gone(gone.clone());
                    set.spawn(move || {
                        let _guard = guard;
                        greenhub::sleep(Duration::from_secs(3600));
                    });
                }
                set.join_next();
            })
        };
        greenhub::yield_now();
        owner.cancel();
        assert!(owner.join().unwrap_err().is_cancelled());
        wait_for(&gone, 5);
    });
}

#[test]
fn dropping_a_set_cancels_its_members_and_cancel_all_reports_each() {
    greenhub::run(|| {
        let gone = Rc::new(Cell::new(0));
        let set = TaskSet::new();
        for _ in 0..3 {
            let guard = Gone(gone.clone());
            set.spawn(move || {
                let _guard = guard;
                greenhub::sleep(Duration::from_secs(3600));
            });
        }
        drop(set);
        wait_for(&gone, 3);

        let set = TaskSet::new();
        set.spawn(|| Some(1));
        set.spawn(|| {
            greenhub::sleep(Duration::from_secs(3600));
            None
        });
        greenhub::yield_now(); // the first finishes
        set.cancel_all();
        assert_eq!(set.join_next().unwrap().unwrap(), Some(1));
        assert!(set.join_next().unwrap().unwrap_err().is_cancelled());
        assert!(set.join_next().is_none());
    });
}

#[test]
fn spawn_later_runs_after_its_delay_and_never_once_cancelled() {
    greenhub::run(|| {
        let start = Instant::now();
        let later = greenhub::spawn_later(Duration::from_millis(15), move || start.elapsed());
        assert!(!later.is_finished());
        assert!(later.join().unwrap() >= Duration::from_millis(15));

        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        let never = greenhub::spawn_later(Duration::from_millis(10), move || flag.set(true));
        never.cancel();
        assert!(never.join().unwrap_err().is_cancelled());
        greenhub::sleep(Duration::from_millis(20));
        assert!(!ran.get(), "a cancelled spawn_later ran its function");
    });
}
