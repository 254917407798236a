//! Mapping green-thread stacks in batches: one `mmap` for several stacks, each with its own
//! guard page below it, each unmapped on its own when dropped.
//!
//! ```text
//!   one mapping of `count` stacks, low addresses on the left:
//!   [guard|  usable stack 0  ][guard|  usable stack 1  ] ... [guard|  usable stack n-1 ]
//!    ^ limit of stack 0       ^ base of stack 0
//! ```
//!
//! A fresh stack used to cost its own `mmap` and an `mprotect` that splits the mapping in two.
//! Here the `mmap` is shared, and on Linux 6.13 and later the guard page is a guard marker
//! (`MADV_GUARD_INSTALL`) that needs no mapping of its own: a whole batch stays one kernel
//! memory map however many stacks it holds, until some of them are unmapped. Elsewhere the
//! guard page is made `PROT_NONE` with `mprotect`, two maps per stack as before. Either way a
//! touch of the guard page raises SIGSEGV at an address inside it, which is all that
//! `super::overflow` needs to name the overflowing green thread.

use corosensei::stack::{Stack, StackPointer};
use std::io;
use std::sync::OnceLock;

pub(super) fn page_size() -> usize {
    static PAGE_SIZE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE_SIZE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize })
}

/// A green thread's stack: a guard page and, above it, the usable part, owned alone.
///
/// # Invariant
/// `limit..limit + len` is a mapping (or part of one) that nothing else owns or unmaps; its
/// lowest page is the guard, the rest is readable and writable.
pub(crate) struct GreenStack {
    limit: usize,
    len: usize,
}

// SAFETY: `base` and `limit` describe a mapping this value owns alone (the invariant), whose
// usable part lies between them and stays mapped until the value is dropped.
unsafe impl Stack for GreenStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.limit + self.len).expect("a mapping is not at address zero")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).expect("a mapping is not at address zero")
    }
}

impl Drop for GreenStack {
    fn drop(&mut self) {
        let start = self.limit as *mut libc::c_void;
        // SAFETY: the range is this stack's own part of a mapping (the invariant), and no
        // coroutine runs on it any more.
        if unsafe { libc::munmap(start, self.len) } != 0 {
            // Unmapping part of a batch splits its kernel map in two, which fails with ENOMEM
            // at `vm.max_map_count`. The address range then stays reserved, but its pages go
            // back to the kernel (madvise splits nothing), so no memory is held.
            // SAFETY: as above; MADV_DONTNEED only drops the range's pages.
            unsafe { libc::madvise(start, self.len, libc::MADV_DONTNEED) };
        }
    }
}

impl GreenStack {
    /// How many bytes it maps, guard page included.
    pub(super) fn mapped_len(&self) -> usize {
        self.len
    }

    /// Gives the pages of its usable part back to the kernel (they read back as zeros),
    /// keeping the mapping and the guard page.
    pub(super) fn release_pages(&self) -> bool {
        let usable_lo = self.limit + page_size();
        // SAFETY: the range is the usable part of this stack's mapping and no green thread runs
        // on it; MADV_DONTNEED only drops its pages.
        unsafe {
            libc::madvise(
                usable_lo as *mut libc::c_void,
                self.len - page_size(),
                libc::MADV_DONTNEED,
            ) == 0
        }
    }
}

/// The bytes one stack of `size` usable bytes maps: rounded up to pages, plus its guard.
pub(super) fn stack_len(size: usize) -> usize {
    size.max(page_size()).next_multiple_of(page_size()) + page_size()
}

/// Maps `count` stacks of `size` usable bytes with one `mmap`.
pub(super) fn map_stacks(size: usize, count: usize) -> io::Result<Vec<GreenStack>> {
    let len = stack_len(size);
    let total = len
        .checked_mul(count.max(1))
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let start = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | map_stack_flag(),
            -1,
            0,
        )
    };
    if start == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // Each part is owned from here on: should a guard fail, dropping them unmaps them all.
    let stacks: Vec<GreenStack> = (0..count.max(1))
        .map(|i| GreenStack {
            limit: start as usize + i * len,
            len,
        })
        .collect();
    for stack in &stacks {
        install_guard(stack.limit)?;
    }
    Ok(stacks)
}

#[cfg(target_os = "openbsd")]
fn map_stack_flag() -> libc::c_int {
    libc::MAP_STACK
}

#[cfg(not(target_os = "openbsd"))]
fn map_stack_flag() -> libc::c_int {
    0
}

/// Makes the page at `at` a guard page.
fn install_guard(at: usize) -> io::Result<()> {
    if install_guard_marker(at) {
        return Ok(());
    }
    // SAFETY: the page belongs to a stack we just mapped and nothing uses yet.
    if unsafe { libc::mprotect(at as *mut libc::c_void, page_size(), libc::PROT_NONE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Installs a guard marker (Linux 6.13+): no mapping of its own, faults like `PROT_NONE`.
/// Returns false where the kernel does not have it, and from then on does not ask again.
#[cfg(target_os = "linux")]
fn install_guard_marker(at: usize) -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// `MADV_GUARD_INSTALL` from linux/mman.h; not in the libc crate yet.
    const MADV_GUARD_INSTALL: libc::c_int = 102;
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);
    if UNSUPPORTED.load(Ordering::Relaxed) {
        return false;
    }
    // SAFETY: the page belongs to a stack we just mapped and nothing uses yet; the advice
    // only makes touching it fault.
    if unsafe { libc::madvise(at as *mut libc::c_void, page_size(), MADV_GUARD_INSTALL) } == 0 {
        return true;
    }
    UNSUPPORTED.store(true, Ordering::Relaxed);
    false
}

#[cfg(not(target_os = "linux"))]
fn install_guard_marker(_at: usize) -> bool {
    false
}
