//! A hub's timers: a hierarchical timing wheel whose insert and removal are O(1).
//!
//! Every `sleep`, `park_timeout` and parked `timeout` scope inserts one entry and removes it
//! when the wait ends, early or not. Real removal (rather than lazily skipping cancelled entries)
//! matters for servers: a connection that re-arms an idle timeout on every read would otherwise
//! leave one stale entry per read behind until each one expired.
//!
//! Time is counted in ticks of 1,024 ns since the wheel was made. A deadline is rounded *up* to
//! a tick and an entry fires once the clock has reached that tick, so a timer never fires
//! before its deadline and at most a tick (about a microsecond) after the clock passed it.
//!
//! ```text
//!   level 8  [ 64 slots of 64^8 ticks ]   ~584 years in all
//!     ...
//!   level 1  [ 64 slots of 64 ticks ]     ~4.2 ms
//!   level 0  [ 64 slots of 1 tick ]       ~65 us: a slot holds timers due at one tick
//!                 |
//!                 '--> fire: in deadline order, ties in the order they were armed
//! ```
//!
//! An entry sits in the lowest level whose span covers the distance from `elapsed` (the tick the
//! wheel has caught up to) to its deadline. When the clock reaches a slot of level 1 or above,
//! its entries move down to the level that now covers them (each entry moves at most once per
//! level); when it reaches a level-0 slot, its entries are due. A bitmap per level finds the next
//! occupied slot without looking at empty ones, so an idle wheel costs nothing and an empty one
//! asks for no wake-up at all.

use std::time::{Duration, Instant};

/// Nanoseconds per tick, as a shift: 2^10 ns = 1.024 us.
const TICK_SHIFT: u32 = 10;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Enough levels for every tick a u64 of nanoseconds can name, so no deadline wraps around.
const LEVELS: usize = 9;
/// The last tick the levels span: about 584 years, the most a u64 of nanoseconds names. A
/// deadline later than that (which nothing alive will see) is clamped to it.
const MAX_TICK: u64 = (1 << (SLOT_BITS as usize * LEVELS)) - 1;
/// No entry, in a list link.
const NIL: u32 = u32::MAX;
/// Where a free entry is: nowhere (an entry in the wheel is at `level * SLOTS + slot`).
const VACANT: u32 = u32::MAX;

/// Names one inserted timer; stays unique even after its slot is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerId {
    index: u32,
    generation: u32,
}

struct Entry {
    /// The deadline, in ticks, rounded up.
    when: u64,
    /// Insertion order, so timers due at the same tick fire first-in first-out.
    seq: u64,
    /// The hub-local key of the green thread to wake.
    task: u32,
    generation: u32,
    /// Which slot's list holds this entry, or `VACANT` when it is free.
    place: u32,
    prev: u32,
    next: u32,
}

/// A doubly linked list threaded through `entries`.
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// # Invariant
/// Every entry in level `l` agrees with `elapsed` on all bits above that level's six, so its
/// slot is at or after `elapsed`'s slot in that level. An entry whose `place` is not `VACANT` is linked into
/// exactly the list that `place` names; `occupied` has bit `s` of level `l` set exactly when
/// that slot's list is non-empty. `len` counts the entries in the wheel.
pub(crate) struct TimerWheel {
    origin: Instant,
    elapsed: u64,
    occupied: [u64; LEVELS],
    slots: [[List; SLOTS]; LEVELS],
    entries: Vec<Entry>,
    free: Vec<u32>,
    len: usize,
    next_seq: u64,
    /// Scratch space for emptying a slot, kept to avoid allocating per tick.
    batch: Vec<u32>,
}

impl Default for TimerWheel {
    fn default() -> TimerWheel {
        TimerWheel {
            origin: Instant::now(),
            elapsed: 0,
            occupied: [0; LEVELS],
            slots: [[List::EMPTY; SLOTS]; LEVELS],
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            next_seq: 0,
            batch: Vec::new(),
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(duration.subsec_nanos() as u64)
}

/// The level an entry due at `when` belongs in while the wheel stands at `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let differing = (elapsed ^ when) | (SLOTS as u64 - 1);
    let highest_bit = 63 - differing.leading_zeros();
    (highest_bit / SLOT_BITS) as usize
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (SLOT_BITS * level as u32)) as usize) & (SLOTS - 1)
}

impl TimerWheel {
    /// The tick `at` falls in (rounded down): the clock has reached it.
    fn tick_reached(&self, at: Instant) -> u64 {
        (nanos(at.saturating_duration_since(self.origin)) >> TICK_SHIFT).min(MAX_TICK)
    }

    /// The first tick at or after `deadline`.
    fn tick_due(&self, deadline: Instant) -> u64 {
        let nanos = nanos(deadline.saturating_duration_since(self.origin));
        nanos.div_ceil(1 << TICK_SHIFT).min(MAX_TICK)
    }

    fn instant_of(&self, tick: u64) -> Option<Instant> {
        let nanos = (tick as u128) << TICK_SHIFT;
        let duration = Duration::new(
            (nanos / 1_000_000_000) as u64,
            (nanos % 1_000_000_000) as u32,
        );
        self.origin.checked_add(duration)
    }

    pub(crate) fn insert(&mut self, deadline: Instant, task: u32) -> TimerId {
        let when = self.tick_due(deadline);
        let seq = self.next_seq;
        self.next_seq += 1;
        let index = match self.free.pop() {
            Some(index) => {
                let e = &mut self.entries[index as usize];
                e.when = when;
                e.seq = seq;
                e.task = task;
                e.generation = e.generation.wrapping_add(1);
                index
            }
            None => {
                self.entries.push(Entry {
                    when,
                    seq,
                    task,
                    generation: 0,
                    place: VACANT,
                    prev: NIL,
                    next: NIL,
                });
                (self.entries.len() - 1) as u32
            }
        };
        self.len += 1;
        self.place(index);
        TimerId {
            index,
            generation: self.entries[index as usize].generation,
        }
    }

    /// Removes a timer; returns false when it already fired or was removed.
    pub(crate) fn remove(&mut self, id: TimerId) -> bool {
        if !self.is_armed(id) {
            return false;
        }
        self.unlink(id.index);
        self.release(id.index);
        true
    }

    /// Whether the timer `id` names is still waiting to fire. Once it has fired, the clock
    /// reading passed to [`fire_due`](Self::fire_due) was at or past its deadline.
    pub(crate) fn is_armed(&self, id: TimerId) -> bool {
        self.entries
            .get(id.index as usize)
            .is_some_and(|e| e.generation == id.generation && e.place != VACANT)
    }

    /// When the hub must look at its timers next: the deadline of the earliest timer in the
    /// lowest level, or the start of the earliest occupied slot above it, where entries move
    /// down (a wake-up that fires nothing; at most one per level on the way to a far deadline).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let (_, _, start) = self.next_slot()?;
        self.instant_of(start)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Hands the task key of every timer due at `now` to `wake`, in deadline order (timers
    /// due at the same tick in the order they were armed). One clock reading serves them all.
    pub(crate) fn fire_due(&mut self, now: Instant, mut wake: impl FnMut(u32)) {
        if self.len == 0 {
            return;
        }
        let now = self.tick_reached(now);
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now {
                // Nothing changes level between here and `start`: catching up to `now` keeps
                // the invariant, and later inserts land in the lowest level that fits.
                self.elapsed = self.elapsed.max(now);
                return;
            }
            self.elapsed = self.elapsed.max(start);
            self.take_slot(level, slot, now, &mut wake);
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Empties one slot that the clock has reached: a level-0 slot's timers fire, in deadline
    /// and then insertion order; a higher slot's move down.
    fn take_slot(&mut self, level: usize, slot: usize, now: u64, wake: &mut impl FnMut(u32)) {
        let mut list = std::mem::replace(&mut self.slots[level][slot], List::EMPTY);
        self.occupied[level] &= !(1 << slot);
        if level > 0 {
            while list.head != NIL {
                let index = list.head;
                list.head = self.entries[index as usize].next;
                self.place(index);
            }
            return;
        }
        let mut batch = std::mem::take(&mut self.batch);
        while list.head != NIL {
            batch.push(list.head);
            list.head = self.entries[list.head as usize].next;
        }
        if batch.len() > 1 {
            // Entries moved down from a higher level join the back of the list, possibly
            // behind ones armed later for the same tick.
            batch.sort_unstable_by_key(|&i| {
                let e = &self.entries[i as usize];
                (e.when, e.seq)
            });
        }
        for &index in &batch {
            if self.entries[index as usize].when <= now {
                self.release(index);
                wake(self.entries[index as usize].task);
            } else {
                self.place(index);
            }
        }
        batch.clear();
        self.batch = batch;
    }

    /// The earliest occupied slot as (level, slot, first tick); of slots that start at the same
    /// tick the highest level's comes first, so that its entries join the lower slot before
    /// that one fires.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let mut best: Option<(usize, usize, u64)> = None;
        for level in (0..LEVELS).rev() {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let here = slot_for(self.elapsed, level);
            // No slot of a level lies behind `elapsed`'s (the invariant): the first one at or
            // after it is the earliest.
            let slot = (occupied >> here).trailing_zeros() as usize + here;
            let start = self.slot_start(level, slot);
            if best.is_none_or(|(_, _, earliest)| start < earliest) {
                best = Some((level, slot, start));
            }
        }
        best
    }

    /// The first tick of `slot` in `level`, in the turn of that level `elapsed` is in.
    fn slot_start(&self, level: usize, slot: usize) -> u64 {
        let slot_span = 1u64 << (SLOT_BITS * level as u32);
        let level_span = slot_span << SLOT_BITS;
        (self.elapsed & !(level_span - 1)) + slot as u64 * slot_span
    }

    /// Links a free-standing entry into the slot its deadline belongs in.
    fn place(&mut self, index: u32) {
        let when = self.entries[index as usize].when.max(self.elapsed);
        let level = level_for(self.elapsed, when);
        let slot = slot_for(when, level);
        let place = (level * SLOTS + slot) as u32;
        self.entries[index as usize].place = place;
        self.occupied[level] |= 1 << slot;
        self.push_back(place, index);
    }

    fn list_mut(&mut self, place: u32) -> &mut List {
        let place = place as usize;
        &mut self.slots[place / SLOTS][place % SLOTS]
    }

    fn push_back(&mut self, place: u32, index: u32) {
        let tail = self.list_mut(place).tail;
        {
            let e = &mut self.entries[index as usize];
            e.prev = tail;
            e.next = NIL;
        }
        if tail == NIL {
            self.list_mut(place).head = index;
        } else {
            self.entries[tail as usize].next = index;
        }
        self.list_mut(place).tail = index;
    }

    /// Takes an entry out of its list (clearing its slot's bit when the slot empties).
    fn unlink(&mut self, index: u32) {
        let Entry {
            place, prev, next, ..
        } = self.entries[index as usize];
        match prev {
            NIL => self.list_mut(place).head = next,
            prev => self.entries[prev as usize].next = next,
        }
        match next {
            NIL => self.list_mut(place).tail = prev,
            next => self.entries[next as usize].prev = prev,
        }
        if self.list_mut(place).head == NIL {
            let place = place as usize;
            self.occupied[place / SLOTS] &= !(1 << (place % SLOTS));
        }
    }

    fn release(&mut self, index: u32) {
        self.entries[index as usize].place = VACANT;
        self.free.push(index);
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests;
