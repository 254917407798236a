//! A hub's timers: an indexed binary heap with real removal.
//!
//! Every `sleep`, `park_timeout` and deadline inserts one entry and removes it when the wait
//! ends, early or not. Real removal (rather than lazily skipping cancelled entries) matters for
//! servers: a connection that re-arms an idle timeout on every read would otherwise leave one
//! stale entry per read in the heap until each one expired.

use std::time::Instant;

/// Names one inserted timer; stays unique even after its slot is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerId {
    slot: u32,
    generation: u32,
}

struct Entry {
    deadline: Instant,
    /// Insertion order, so timers with equal deadlines fire first-in first-out.
    seq: u64,
    /// The hub-local key of the green thread to wake.
    task: u32,
    /// Where this entry sits in `heap`, or `VACANT` when the slot is free.
    position: u32,
    generation: u32,
}

const VACANT: u32 = u32::MAX;

/// # Invariant
/// `heap[i]` is a slot index whose entry has `position == i`; every slot not in `heap` has
/// `position == VACANT` and is listed in `free`.
#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: Vec<u32>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    next_seq: u64,
}

impl TimerHeap {
    pub(crate) fn insert(&mut self, deadline: Instant, task: u32) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let position = self.heap.len() as u32;
        let slot = match self.free.pop() {
            Some(slot) => {
                let e = &mut self.entries[slot as usize];
                e.deadline = deadline;
                e.seq = seq;
                e.task = task;
                e.position = position;
                e.generation = e.generation.wrapping_add(1);
                slot
            }
            None => {
                self.entries.push(Entry {
                    deadline,
                    seq,
                    task,
                    position,
                    generation: 0,
                });
                (self.entries.len() - 1) as u32
            }
        };
        self.heap.push(slot);
        self.sift_up(position as usize);
        TimerId {
            slot,
            generation: self.entries[slot as usize].generation,
        }
    }

    /// Removes a timer; returns false when it already fired or was removed.
    pub(crate) fn remove(&mut self, id: TimerId) -> bool {
        let Some(e) = self.entries.get(id.slot as usize) else {
            return false;
        };
        if e.generation != id.generation || e.position == VACANT {
            return false;
        }
        self.remove_at(e.position as usize);
        true
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap
            .first()
            .map(|&slot| self.entries[slot as usize].deadline)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Removes and returns the task key of the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<u32> {
        let &slot = self.heap.first()?;
        let e = &self.entries[slot as usize];
        if e.deadline > now {
            return None;
        }
        let task = e.task;
        self.remove_at(0);
        Some(task)
    }

    fn remove_at(&mut self, position: usize) {
        let slot = self.heap.swap_remove(position);
        self.entries[slot as usize].position = VACANT;
        self.free.push(slot);
        if position < self.heap.len() {
            self.entries[self.heap[position] as usize].position = position as u32;
            self.sift_down(position);
            self.sift_up(position);
        }
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let (a, b) = (
            &self.entries[self.heap[a] as usize],
            &self.entries[self.heap[b] as usize],
        );
        (a.deadline, a.seq) < (b.deadline, b.seq)
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.entries[self.heap[a] as usize].position = a as u32;
        self.entries[self.heap[b] as usize].position = b as u32;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.less(i, parent) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (left, right) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if left < self.heap.len() && self.less(left, least) {
                least = left;
            }
            if right < self.heap.len() && self.less(right, least) {
                least = right;
            }
            if least == i {
                break;
            }
            self.swap(i, least);
            i = least;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_removes_from_the_middle() {
        let base = Instant::now();
        let mut heap = TimerHeap::default();
        let ids: Vec<_> = [5u64, 1, 4, 2, 3]
            .iter()
            .map(|&ms| heap.insert(base + Duration::from_millis(ms), ms as u32))
            .collect();
        assert!(heap.remove(ids[2])); // the 4 ms timer
        assert!(!heap.remove(ids[2]), "removing twice reports false");
        let far = base + Duration::from_secs(1);
        let order: Vec<u32> = std::iter::from_fn(|| heap.pop_due(far)).collect();
        assert_eq!(order, vec![1, 2, 3, 5]);
        assert!(heap.is_empty());
    }

    #[test]
    fn equal_deadlines_fire_first_in_first_out_and_not_before_due() {
        let at = Instant::now() + Duration::from_millis(10);
        let mut heap = TimerHeap::default();
        for task in 0..4 {
            heap.insert(at, task);
        }
        assert_eq!(heap.pop_due(at - Duration::from_millis(1)), None);
        let order: Vec<u32> = std::iter::from_fn(|| heap.pop_due(at)).collect();
        assert_eq!(order, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_reused_slot_does_not_accept_a_stale_id() {
        let now = Instant::now();
        let mut heap = TimerHeap::default();
        let old = heap.insert(now, 1);
        assert_eq!(heap.pop_due(now), Some(1));
        let _new = heap.insert(now, 2);
        assert!(!heap.remove(old));
        assert_eq!(heap.len(), 1);
    }
}
