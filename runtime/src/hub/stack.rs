//! Green-thread stacks: mmap'd with a guard page, pooled per hub, and watched for overflow (by
//! `super::overflow`, which learns the running one's bounds from [`RunningStack`]).
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
//! Fresh stacks are mapped in batches (see `super::stack_mapping`): one `mmap` for
//! [`MAP_BATCH`] stacks, each with its own guard page; a pooled one costs a `Vec::pop`. On overflow our signal handler, running on the
//! thread's alternate signal stack, sees that the faulting address lies in the guard page of the
//! green thread that is running, prints its name and aborts.

use super::stack_mapping::{map_stacks, page_size, stack_len, GreenStack};
use crate::task::Task;
use corosensei::stack::Stack;
use std::io;
use std::sync::OnceLock;

/// The default stack size of a green thread, in bytes. Only touched pages become resident, so a
/// green thread that stays shallow costs a page or two of memory whatever this says.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Free stacks kept by the hubs of a runtime together, shared out equally among them. A pooled
/// stack may still hold two kernel memory maps (where guard pages need `mprotect`, see
/// `super::stack_mapping`), so the pools may use at most half of
/// `vm.max_map_count` (16,382 stacks with Linux's default): a pool only fills after a burst at
/// least that big, and a hub that cannot map a stack unmaps its own pool and tries again.
/// Beyond this, stacks are unmapped
/// when their green threads end. Reusing a pooled stack costs a `Vec::pop` (plus a page fault
/// or two when its pages were released) instead of the guard page, page faults and later
/// `munmap` of a fresh one.
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

/// Stacks of the default size mapped at once when the pool is empty: a burst of 10,000 fresh
/// green threads makes 157 `mmap` calls instead of 10,000. The spare ones wait in the pool with
/// no page resident (untouched memory costs nothing), so this adds address space only.
const MAP_BATCH: usize = 64;

/// A hub's free stacks of its default size.
pub(crate) struct StackPool {
    size: usize,
    /// This hub's share of [`pool_capacity`].
    capacity: usize,
    warm: Vec<GreenStack>,
    /// Stacks whose pages were given back, and fresh ones no green thread has used yet.
    cold: Vec<GreenStack>,
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
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<GreenStack> {
        let size = size.unwrap_or(self.size);
        if size != self.size {
            return self.allocate(size, 1);
        }
        if let Some(stack) = self.warm.pop().or_else(|| self.cold.pop()) {
            return Ok(stack);
        }
        let room = self
            .capacity
            .saturating_sub(self.warm.len() + self.cold.len());
        self.allocate(size, room.clamp(1, MAP_BATCH))
    }

    /// Maps `count` stacks, keeps all but one in the pool and returns that one.
    fn allocate(&mut self, size: usize, count: usize) -> io::Result<GreenStack> {
        let mut stacks = allocate(size, count).or_else(|err| {
            if self.warm.is_empty() && self.cold.is_empty() {
                return Err(err);
            }
            // Out of maps, perhaps: unmap what this pool holds and try once more.
            self.clear();
            allocate(size, 1)
        })?;
        let stack = stacks.pop().expect("at least one stack was mapped");
        self.cold.append(&mut stacks);
        Ok(stack)
    }

    fn clear(&mut self) {
        self.warm.clear();
        self.cold.clear();
    }

    /// Returns a stack whose green thread has finished.
    pub(crate) fn give(&mut self, stack: GreenStack) {
        if stack.mapped_len() != stack_len(self.size) {
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
            if stack.release_pages() {
                self.cold.push(stack);
            }
        }
        self.warm.len() > WARM_KEEP
    }
}

fn allocate(size: usize, count: usize) -> io::Result<Vec<GreenStack>> {
    map_stacks(size, count).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "greenhub could not map a {size}-byte green-thread stack: {err}. Each guarded \
                 stack may cost two kernel memory maps and Linux allows vm.max_map_count of them per \
                 process (65530 by default, about 32,000 live green threads); raise it with \
                 `sysctl -w vm.max_map_count=262144`, or use fewer or smaller stacks"
            ),
        )
    })
}

/// What the overflow handler needs to know about the green thread on this OS thread.
#[derive(Clone, Copy)]
pub(crate) struct RunningStack {
    pub(super) guard_lo: usize,
    pub(super) guard_hi: usize,
    pub(super) usable: usize,
    pub(super) task: *const Task,
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

    pub(crate) fn of(stack: &GreenStack, task: &Task) -> RunningStack {
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
