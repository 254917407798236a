//! Green-thread stacks: mmap'd with a guard page, pooled per hub, and watched for overflow.
//!
//! ```text
//!   high addresses
//!   +---------------------+  <- base: the first frame of the green thread is pushed here
//!   |  usable stack       |     (grows down; only the pages touched count as resident)
//!   |        ...          |
//!   +---------------------+  <- guard_hi
//!   |  guard page         |     PROT_NONE: touching it raises SIGSEGV (SIGBUS on macOS)
//!   +---------------------+  <- guard_lo = limit
//!   low addresses
//! ```
//!
//! A fresh stack costs an `mmap` plus an `mprotect` (about 9 us here) and two kernel memory
//! maps; a pooled one costs a `Vec::pop`. On overflow our signal handler, running on the
//! thread's alternate signal stack, sees that the faulting address lies in the guard page of the
//! green thread that is running, prints its name and aborts.

use crate::task::Task;
use corosensei::stack::{DefaultStack, Stack};
use std::cell::Cell;
use std::io;
use std::sync::OnceLock;

/// The default stack size of a green thread, in bytes. Only touched pages become resident, so a
/// green thread that stays shallow costs a page or two of memory whatever this says.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Free stacks kept by the hubs of a runtime together, shared out equally among them. A pooled
/// stack still holds its two kernel memory maps, so the pools may use at most half of
/// `vm.max_map_count` (16,382 stacks with Linux's default): a pool only fills after a burst at
/// least that big, and a hub that cannot map a stack unmaps its own pool and tries again.
/// Beyond this, stacks are unmapped
/// when their green threads end. Reusing a pooled stack costs a `Vec::pop` (plus a page fault
/// or two when its pages were released) instead of the `mmap`, `mprotect` and later `munmap`
/// of a fresh one.
fn pool_capacity() -> usize {
    static CAPACITY: OnceLock<usize> = OnceLock::new();
    *CAPACITY.get_or_init(|| {
        let max_maps = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
            .unwrap_or(65_530);
        max_maps / 2 / 2
    })
}

/// How many free stacks keep their pages resident once the hub has time to tidy up. A burst of
/// 10,000 green threads gets its stacks back warm; when the hub next waits a while with nothing
/// to run, the pages of all but this many are given back to the kernel (`MADV_DONTNEED`), so
/// the burst leaves no resident memory behind.
const WARM_KEEP: usize = 1024;

/// Stacks released per [`StackPool::trim`] call, so a hub woken meanwhile answers soon.
const TRIM_SLICE: usize = 256;

/// A hub's free stacks of its default size.
pub(crate) struct StackPool {
    size: usize,
    /// This hub's share of [`pool_capacity`].
    capacity: usize,
    warm: Vec<DefaultStack>,
    cold: Vec<DefaultStack>,
}

fn mapped_len(stack: &DefaultStack) -> usize {
    stack.base().get() - stack.limit().get()
}

fn page_size() -> usize {
    static PAGE_SIZE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE_SIZE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize })
}

impl StackPool {
    /// A pool for one of `hubs` hubs.
    pub(crate) fn new(size: usize, hubs: usize) -> StackPool {
        StackPool {
            size,
            capacity: pool_capacity() / hubs.max(1),
            warm: Vec::new(),
            cold: Vec::new(),
        }
    }

    /// A stack of at least `size` bytes (the pool's size when `None`), reused when possible.
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<DefaultStack> {
        let size = size.unwrap_or(self.size);
        if size == self.size {
            if let Some(stack) = self.warm.pop().or_else(|| self.cold.pop()) {
                return Ok(stack);
            }
        }
        allocate(size).or_else(|err| {
            if self.warm.is_empty() && self.cold.is_empty() {
                return Err(err);
            }
            // Out of maps, perhaps: unmap what this pool holds and try once more.
            self.clear();
            allocate(size)
        })
    }

    fn clear(&mut self) {
        self.warm.clear();
        self.cold.clear();
    }

    /// Returns a stack whose green thread has finished.
    pub(crate) fn give(&mut self, stack: DefaultStack) {
        let default_len = (self.size + page_size()).next_multiple_of(page_size());
        if mapped_len(&stack) != default_len {
            return;
        }
        if self.warm.len() + self.cold.len() < self.capacity {
            self.warm.push(stack);
        } // else full: `stack` is unmapped here
    }

    /// Releases the pages of up to a slice of the warm stacks beyond [`WARM_KEEP`]; returns
    /// whether more remain to release.
    pub(crate) fn trim(&mut self) -> bool {
        let excess = self.warm.len().saturating_sub(WARM_KEEP).min(TRIM_SLICE);
        // The front of the pool holds the stacks unused the longest.
        for stack in self.warm.drain(..excess) {
            if release_pages(&stack) {
                self.cold.push(stack);
            }
        }
        self.warm.len() > WARM_KEEP
    }
}

/// Gives the pages of an unused stack back to the kernel, keeping the mapping and its guard.
fn release_pages(stack: &DefaultStack) -> bool {
    let usable_lo = stack.limit().get() + page_size();
    let len = stack.base().get() - usable_lo;
    // SAFETY: the range is the usable part of a mapping this pool owns, and no green thread
    // runs on it; MADV_DONTNEED only drops its pages, which read back as zeros when touched.
    unsafe { libc::madvise(usable_lo as *mut libc::c_void, len, libc::MADV_DONTNEED) == 0 }
}

fn allocate(size: usize) -> io::Result<DefaultStack> {
    DefaultStack::new(size).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "greenhub could not map a {size}-byte green-thread stack: {err}. Each guarded \
                 stack costs two kernel memory maps and Linux allows vm.max_map_count of them per \
                 process (65530 by default, about 32,000 live green threads); raise it with \
                 `sysctl -w vm.max_map_count=262144`, or use fewer or smaller stacks"
            ),
        )
    })
}

/// What the overflow handler needs to know about the green thread on this OS thread.
#[derive(Clone, Copy)]
pub(crate) struct RunningStack {
    guard_lo: usize,
    guard_hi: usize,
    usable: usize,
    task: *const Task,
}

impl Default for RunningStack {
    fn default() -> RunningStack {
        RunningStack::NONE
    }
}

impl RunningStack {
    pub(crate) const NONE: RunningStack = RunningStack {
        guard_lo: 0,
        guard_hi: 0,
        usable: 0,
        task: std::ptr::null(),
    };

    pub(crate) fn of(stack: &DefaultStack, task: &Task) -> RunningStack {
        let guard_lo = stack.limit().get();
        let guard_hi = guard_lo + page_size();
        RunningStack {
            guard_lo,
            guard_hi,
            usable: stack.base().get() - guard_hi,
            task,
        }
    }
}

thread_local! {
    /// Set by the hub before it resumes a green thread; read by the signal handler.
    static RUNNING: Cell<RunningStack> = const { Cell::new(RunningStack::NONE) };
}

pub(crate) fn set_running(running: RunningStack) {
    RUNNING.with(|r| r.set(running));
}

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
    let running = RUNNING.with(|r| r.get());
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
