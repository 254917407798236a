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
//! biased: they take their mutex every time, as before.

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::OnceLock;

    // From <linux/membarrier.h>.
    const CMD_QUERY: libc::c_int = 0;
    const CMD_GLOBAL: libc::c_int = 1;
    const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;
    const NEEDED: libc::c_long =
        (CMD_GLOBAL | CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED) as libc::c_long;

    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;

    static AVAILABLE: AtomicU8 = AtomicU8::new(UNKNOWN);
    static REGISTERED: OnceLock<bool> = OnceLock::new();

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
        match AVAILABLE.load(Ordering::Relaxed) {
            YES => true,
            NO => false,
            _ => {
                let commands = membarrier(CMD_QUERY);
                let yes = commands >= 0 && commands & NEEDED == NEEDED;
                AVAILABLE.store(if yes { YES } else { NO }, Ordering::Relaxed);
                yes
            }
        }
    }

    pub(crate) fn run() {
        // Registering is per process and slow once the process has several threads (the kernel
        // waits for an RCU grace period, about 10 ms here), so it is done on the first revoke,
        // which is rare, rather than when a lock is made.
        let registered =
            *REGISTERED.get_or_init(|| membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0);
        if registered && membarrier(CMD_PRIVATE_EXPEDITED) == 0 {
            return;
        }
        // The query promised this one, which needs no registration (it waits for a grace period).
        if membarrier(CMD_GLOBAL) == 0 {
            return;
        }
        // Without the barrier a biased lock cannot be revoked safely; continuing could let two
        // threads into one primitive's state at once.
        crate::sys::report("greenhub: membarrier failed after the kernel offered it; aborting");
        std::process::abort();
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::{available, run};

/// Whether a process-wide barrier can be had here; false on systems without `membarrier`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn available() -> bool {
    false
}

/// Never called where [`available`] is false.
#[cfg(not(target_os = "linux"))]
pub(crate) fn run() {
    unreachable!("no process-wide barrier on this system, so no lock was biased")
}
