//! Runtime-wide facts that decide whether anything can still happen: which hubs are idle, whether
//! the main green thread can ever be woken, and when a shutting-down runtime has gone quiet.
//!
//! A hub is *idle* when nothing on it can happen without help from outside: no runnable green
//! thread, timer, I/O waiter or blocking-pool job, and no unseen remote work. The checks below
//! read every hub's flags one after another, so they are bracketed by an epoch that every hub
//! bumps when it stops being idle: if the epoch did not move, all the flags held at one moment.

use super::sleep_handshake::SleepHandshake;
use crate::reactor::Waker;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// One hub's flags, padded so hubs do not share a cache line.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct HubFlags {
    /// Live [`GreenThread`](crate::GreenThread) handles to this hub's green threads.
    external_wakers: AtomicUsize,
    /// Its green threads parked in `sync` wait lists, as the hub last went idle: any thread
    /// holding the primitive may still wake them. Written only by the hub itself on its way to
    /// idle, so it holds for as long as the hub stays idle.
    in_wait_lists: AtomicUsize,
    /// Is the hub asleep, and has it unseen remote work?
    pub(crate) handshake: SleepHandshake,
    /// Set while the hub has nothing at all to do (see the module doc).
    idle: AtomicBool,
}

/// The state every hub of a runtime shares about the runtime as a whole.
pub(crate) struct Liveness {
    hubs: Box<[HubFlags]>,
    idle_hubs: AtomicUsize,
    /// Bumped whenever a hub stops being idle.
    epoch: AtomicUsize,
    /// The main green thread is done (or can never run again, or a hub failed): every green
    /// thread is being cancelled.
    pub(crate) shutdown: AtomicBool,
    /// The main green thread is parked and nothing can ever wake it.
    pub(crate) deadlock: AtomicBool,
    /// During shutdown, every hub went idle at once: whatever still waits can never be woken by
    /// the runtime, so the hubs give it up and stop.
    pub(crate) quiet: AtomicBool,
    /// The first hub that stopped because its loop panicked, and the panic's message.
    failure: Mutex<Option<(usize, String)>>,
    main_waker: Waker,
}

impl Liveness {
    pub(crate) fn new(hubs: usize, main_waker: Waker) -> Liveness {
        Liveness {
            hubs: (0..hubs).map(|_| HubFlags::default()).collect(),
            idle_hubs: AtomicUsize::new(0),
            epoch: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            deadlock: AtomicBool::new(false),
            quiet: AtomicBool::new(false),
            failure: Mutex::new(None),
            main_waker,
        }
    }

    pub(crate) fn flags(&self, hub: usize) -> &HubFlags {
        &self.hubs[hub]
    }

    /// Hub `hub` has nothing at all to do; `in_wait_lists` of its green threads are parked in
    /// `sync` wait lists.
    pub(crate) fn enter_idle(&self, hub: usize, in_wait_lists: usize) {
        self.hubs[hub]
            .in_wait_lists
            .store(in_wait_lists, Ordering::SeqCst);
        if !self.hubs[hub].idle.swap(true, Ordering::SeqCst) {
            self.idle_hubs.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn leave_idle(&self, hub: usize) {
        let flags = &self.hubs[hub];
        if flags.idle.load(Ordering::SeqCst) && flags.idle.swap(false, Ordering::SeqCst) {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            self.idle_hubs.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether every hub was idle, with no unseen remote work, at one moment during the call;
    /// `also` adds a condition read under the same epoch bracket.
    fn all_idle(&self, also: impl Fn(&HubFlags) -> bool) -> bool {
        let before = self.epoch.load(Ordering::SeqCst);
        let idle = self.idle_hubs.load(Ordering::SeqCst) == self.hubs.len()
            && self
                .hubs
                .iter()
                .all(|h| !h.handshake.is_notified() && also(h));
        idle && self.epoch.load(Ordering::SeqCst) == before
    }

    /// Every hub is idle, nobody holds a handle that could wake a green thread, and none waits
    /// in a `sync` wait list (where any holder of the primitive, an OS thread included, may wake
    /// it): the main green thread can never run again. Tell the main hub.
    pub(crate) fn check_deadlock(&self) {
        if self.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let stuck = self.all_idle(|h| {
            h.external_wakers.load(Ordering::SeqCst) == 0
                && h.in_wait_lists.load(Ordering::SeqCst) == 0
        });
        if stuck && !self.deadlock.swap(true, Ordering::SeqCst) {
            // A failed wake leaves the main hub asleep; nothing better can be done from here.
            let _ = self.main_waker.wake();
        }
    }

    /// During shutdown: every hub is idle, so nothing left in the runtime can make progress.
    /// Handles held outside the runtime do not count: an OS thread that might still wake a green
    /// thread is not waited for. Returns true the first time the runtime is found quiet; the
    /// caller then wakes every hub so each can stop.
    pub(crate) fn check_quiet(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
            && self.all_idle(|_| true)
            && !self.quiet.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet.load(Ordering::SeqCst)
    }

    /// Records that hub `hub` stopped because its loop panicked; the first failure is kept.
    pub(crate) fn record_failure(&self, hub: usize, message: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert((hub, message));
        self.shutdown.store(true, Ordering::SeqCst);
    }

    pub(crate) fn failure(&self) -> Option<(usize, String)> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn external_waker_added(&self, hub: usize) {
        self.hubs[hub]
            .external_wakers
            .fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn external_waker_dropped(&self, hub: usize) {
        if self.hubs[hub]
            .external_wakers
            .fetch_sub(1, Ordering::SeqCst)
            == 1
        {
            self.check_deadlock();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::Poller;

    fn liveness(hubs: usize) -> (Liveness, Poller) {
        let poller = Poller::new().unwrap();
        (Liveness::new(hubs, poller.waker()), poller)
    }

    #[test]
    fn a_deadlock_is_seen_only_when_every_hub_is_idle() {
        let (liveness, _poller) = liveness(2);
        liveness.enter_idle(0, 0);
        liveness.check_deadlock();
        assert!(!liveness.deadlock.load(Ordering::SeqCst), "hub 1 is busy");
        liveness.enter_idle(1, 0);
        liveness.check_deadlock();
        assert!(liveness.deadlock.load(Ordering::SeqCst));
    }

    /// A green thread parked in a `sync` wait list may be woken by any holder of the primitive,
    /// an OS thread included: every hub idle is then no deadlock.
    #[test]
    fn a_green_thread_in_a_wait_list_is_no_deadlock() {
        let (liveness, _poller) = liveness(2);
        liveness.enter_idle(0, 1);
        liveness.enter_idle(1, 0);
        liveness.check_deadlock();
        assert!(!liveness.deadlock.load(Ordering::SeqCst));
        liveness.leave_idle(0); // it ran, and left the wait list
        liveness.enter_idle(0, 0);
        liveness.check_deadlock();
        assert!(liveness.deadlock.load(Ordering::SeqCst));
    }

    #[test]
    fn entering_and_leaving_idle_twice_counts_once() {
        let (liveness, _poller) = liveness(2);
        liveness.enter_idle(0, 0);
        liveness.enter_idle(0, 0);
        liveness.leave_idle(1); // was never idle: no change
        assert_eq!(liveness.idle_hubs.load(Ordering::SeqCst), 1);
        liveness.leave_idle(0);
        liveness.leave_idle(0);
        assert_eq!(liveness.idle_hubs.load(Ordering::SeqCst), 0);
    }

    /// The epoch bracket: a hub that leaves the idle state while the check reads the flags (and
    /// may be idle again by the time the count is read) makes the check fail, so flags read at
    /// different moments are never taken for one idle moment.
    #[test]
    fn a_hub_that_wakes_during_the_check_moves_the_epoch_and_spoils_it() {
        let (liveness, _poller) = liveness(2);
        liveness.enter_idle(0, 0);
        liveness.enter_idle(1, 0);
        let woke_meanwhile = liveness.all_idle(|_| {
            liveness.leave_idle(1);
            liveness.enter_idle(1, 0);
            true
        });
        assert!(!woke_meanwhile);
        assert!(liveness.all_idle(|_| true), "quiet again afterwards");
    }

    #[test]
    fn unseen_remote_work_is_not_idle() {
        let (liveness, _poller) = liveness(1);
        liveness.enter_idle(0, 0);
        liveness.flags(0).handshake.notify();
        assert!(!liveness.all_idle(|_| true));
        liveness.flags(0).handshake.take_notification();
        assert!(liveness.all_idle(|_| true));
    }

    #[test]
    fn a_handle_that_could_wake_a_green_thread_holds_off_the_deadlock_until_dropped() {
        let (liveness, _poller) = liveness(1);
        liveness.external_waker_added(0);
        liveness.enter_idle(0, 0);
        liveness.check_deadlock();
        assert!(!liveness.deadlock.load(Ordering::SeqCst));
        liveness.external_waker_dropped(0);
        assert!(
            liveness.deadlock.load(Ordering::SeqCst),
            "the last drop checks again"
        );
    }

    #[test]
    fn quiet_is_reported_once_and_only_during_shutdown() {
        let (liveness, _poller) = liveness(1);
        liveness.enter_idle(0, 0);
        assert!(!liveness.check_quiet(), "not shutting down");
        liveness.shutdown.store(true, Ordering::SeqCst);
        assert!(liveness.check_quiet());
        assert!(
            !liveness.check_quiet(),
            "the first finder wakes the hubs, once"
        );
        assert!(liveness.is_quiet());
    }
}
