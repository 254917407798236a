//! The stack-overflow report: a SIGSEGV/SIGBUS handler, running on the thread's alternate
//! signal stack, that sees whether the faulting address lies in the guard page of the green
//! thread that is running (see [`RunningStack`]), prints its name and aborts. Any other fault
//! goes to the handler that was there before.

use crate::task::Task;
use std::sync::OnceLock;

/// The handlers that were installed before ours, to which faults that are not ours go.
static PREVIOUS: OnceLock<PreviousHandlers> = OnceLock::new();

struct PreviousHandlers {
    segv: libc::sigaction,
    bus: libc::sigaction,
}

// SAFETY: a `sigaction` is plain data (a function address, flags and a mask); after the
// `OnceLock` publishes it, it is only read.
unsafe impl Sync for PreviousHandlers {}
// SAFETY: as above, plain data.
unsafe impl Send for PreviousHandlers {}

/// Installs the SIGSEGV/SIGBUS handler once per process.
pub(crate) fn install_overflow_handler() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: a zeroed sigaction is a valid "default handler, empty mask" value; we fill in
        // the handler, flags and mask before passing it to sigaction(2), whose out-parameters
        // are valid stack locations.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut segv: libc::sigaction = std::mem::zeroed();
            let mut bus: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGSEGV, &action, &mut segv);
            libc::sigaction(libc::SIGBUS, &action, &mut bus);
            PreviousHandlers { segv, bus }
        }
    });
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn fault_address(info: &libc::siginfo_t) -> usize {
    // SAFETY: the kernel fills si_addr for SIGSEGV and SIGBUS.
    unsafe { info.si_addr() as usize }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn fault_address(info: &libc::siginfo_t) -> usize {
    info.si_addr as usize
}

extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // Only async-signal-safe work here: a thread-local read, write(2) and abort(3).
    let running = super::context::running_stack();
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let address = fault_address(unsafe { &*info });
    if !running.task.is_null() && (running.guard_lo..running.guard_hi).contains(&address) {
        // SAFETY: the hub keeps the task alive while it runs, and it is running: the fault
        // happened on its stack.
        let task = unsafe { &*running.task };
        report_overflow(task, running.usable);
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
    }
    let Some(previous) = PREVIOUS.get() else {
        return;
    };
    let previous = if signal == libc::SIGBUS {
        &previous.bus
    } else {
        &previous.segv
    };
    forward(signal, info, context, previous);
}

fn forward(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
    previous: &libc::sigaction,
) {
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again and the
        // process dies of the signal as it would have without us.
        // SAFETY: a zeroed sigaction with SIG_DFL (0) is the default disposition.
        unsafe {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &default, std::ptr::null_mut());
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so this is its signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(signal, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes only the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(signal);
    }
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: the buffer is valid for its length; a failed write to stderr cannot be reported.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

fn write_number(mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    write_stderr(&digits[at..]);
}

fn report_overflow(task: &Task, usable: usize) {
    write_stderr(b"\ngreenhub: green thread '");
    write_stderr(task.name().unwrap_or("<unnamed>").as_bytes());
    write_stderr(b"' (id ");
    write_number(task.id());
    write_stderr(b") has overflowed its stack of ");
    write_number(usable as u64);
    write_stderr(
        b" bytes; give it a bigger one with greenhub::Builder::stack_size or \
          Runtime::builder().stack_size\nfatal runtime error: green thread stack overflow, aborting\n",
    );
}

/// An alternate signal stack this module installed for a thread that had none, so that the
/// overflow handler has a stack to run on. Removed again when dropped.
pub(crate) struct AltStack {
    memory: *mut libc::c_void,
    len: usize,
}

/// Makes sure the calling thread has an alternate signal stack.
pub(crate) fn ensure_alt_stack() -> Option<AltStack> {
    // SAFETY: sigaltstack with a null new stack only reads the current one into `current`.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: `current` is a valid out-parameter.
    if unsafe { libc::sigaltstack(std::ptr::null(), &mut current) } != 0
        || current.ss_flags & libc::SS_DISABLE == 0
    {
        return None;
    }
    let len = 64 * 1024;
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let memory = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if memory == libc::MAP_FAILED {
        return None;
    }
    let stack = libc::stack_t {
        ss_sp: memory,
        ss_flags: 0,
        ss_size: len,
    };
    // SAFETY: `stack` describes the mapping we just made, which outlives its use (see Drop).
    unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) };
    Some(AltStack { memory, len })
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: disabling the alternate stack before unmapping it; errors cannot be acted on
        // in a destructor and leave at worst a leaked mapping.
        unsafe {
            let disable = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            libc::sigaltstack(&disable, std::ptr::null_mut());
            libc::munmap(self.memory, self.len);
        }
    }
}
