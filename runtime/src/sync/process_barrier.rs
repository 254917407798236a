//! A memory barrier on every thread of the process at once, paid for by the one thread that asks
//! (Linux's `membarrier`): what lets [`StateLock`](super::state_lock) keep atomic
//! read-modify-writes off its owner's path.
//!
//! The owner of a biased lock only orders its own accesses against the compiler; a thread that
//! revokes the bias calls [`run`], after which every other thread of the process has passed a
//! full barrier (an interrupt on each CPU that runs one of them, and a context switch is one for
//! the rest). That turns the owner's compiler fences into full fences for this one moment, which
//! is the asymmetric form of Dekker's handshake that userspace RCU is built on.
//!
//! Where the kernel lacks it (or on macOS and the BSDs) [`available`] says so and locks are never
//! biased: they take their mutex every time, as before. Where it has it, locks are biased only
//! once the process has registered for it ([`ready`]), which happens in the background.

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicU8, Ordering};

    // From <linux/membarrier.h>.
    const CMD_QUERY: libc::c_int = 0;
    const CMD_GLOBAL: libc::c_int = 1;
    const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;
    const NEEDED: libc::c_long =
        (CMD_GLOBAL | CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED) as libc::c_long;

    const UNKNOWN: u8 = 0;
    const UNSUPPORTED: u8 = 1;
    const REGISTERING: u8 = 2;
    const READY: u8 = 3;

    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    fn membarrier(command: libc::c_int) -> libc::c_long {
        // SAFETY: membarrier takes two integers and no pointers.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                command,
                0 as libc::c_uint,
                0 as libc::c_int,
            )
        }
    }

    pub(crate) fn available() -> bool {
        match STATE.load(Ordering::Relaxed) {
            UNKNOWN => start(),
            UNSUPPORTED => false,
            _ => true,
        }
    }

    pub(crate) fn ready() -> bool {
        STATE.load(Ordering::Acquire) == READY
    }

    /// Asks the kernel once, and registers in the background: registering is per process and,
    /// once the process has several threads, waits for an RCU grace period (about 10 ms here),
    /// which no hub should wait for. Locks are biased only once it is done (`ready`).
    #[cold]
    fn start() -> bool {
        let commands = membarrier(CMD_QUERY);
        if commands < 0 || commands & NEEDED != NEEDED {
            STATE.store(UNSUPPORTED, Ordering::Relaxed);
            return false;
        }
        if STATE
            .compare_exchange(UNKNOWN, REGISTERING, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let registered = std::thread::Builder::new()
                .name("greenhub-membarrier".into())
                .spawn(|| {
                    let outcome = if membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0 {
                        READY
                    } else {
                        UNSUPPORTED
                    };
                    STATE.store(outcome, Ordering::Release);
                });
            if registered.is_err() {
                STATE.store(UNSUPPORTED, Ordering::Relaxed);
                return false;
            }
        }
        true
    }

    pub(crate) fn run() {
        if membarrier(CMD_PRIVATE_EXPEDITED) == 0 {
            return;
        }
        // The query promised this one, which needs no registration (it waits for a grace period).
        if membarrier(CMD_GLOBAL) == 0 {
            return;
        }
        // Without the barrier a biased lock cannot be revoked safely; continuing could let two
        // threads into one primitive's state at once.
        crate::sys::report("greenhub: membarrier failed after the kernel offered it; aborting\n");
        std::process::abort();
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::{available, ready, run};

/// Whether a process-wide barrier can be had here; false on systems without `membarrier`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn available() -> bool {
    false
}

/// Never true where [`available`] is false.
#[cfg(not(target_os = "linux"))]
pub(crate) fn ready() -> bool {
    false
}

/// Never called where [`available`] is false.
#[cfg(not(target_os = "linux"))]
pub(crate) fn run() {
    unreachable!("no process-wide barrier on this system, so no lock was biased")
}
