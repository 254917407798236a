//! The timing wheel against its promises: never early and at most a tick late, deadline order
//! (ties first-in first-out), O(1) removal that tolerates stale ids, far deadlines, and a
//! `next_deadline` that is never later than the earliest timer can fire.

use super::*;

/// A timer fires at its deadline rounded up to the next tick.
const TICK: Duration = Duration::from_nanos(1 << TICK_SHIFT);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Fires everything due at `now`.
fn due(wheel: &mut TimerWheel, now: Instant) -> Vec<u32> {
    let mut fired = Vec::new();
    wheel.fire_due(now, |task| fired.push(task));
    fired
}

#[test]
fn pops_in_deadline_order_and_removes_from_the_middle() {
    let mut wheel = TimerWheel::default();
    let base = wheel.origin;
    let ids: Vec<_> = [5u64, 1, 4, 2, 3]
        .iter()
        .map(|&n| wheel.insert(base + ms(n), n as u32))
        .collect();
    assert!(wheel.remove(ids[2])); // the 4 ms timer
    assert!(!wheel.remove(ids[2]), "removing twice reports false");
    assert_eq!(due(&mut wheel, base + ms(1000)), vec![1, 2, 3, 5]);
    assert!(wheel.is_empty());
}

#[test]
fn equal_deadlines_fire_first_in_first_out_and_not_before_due() {
    let mut wheel = TimerWheel::default();
    let at = wheel.origin + ms(10);
    for task in 0..4 {
        wheel.insert(at, task);
    }
    assert_eq!(due(&mut wheel, at - Duration::from_nanos(1)), vec![]);
    assert_eq!(due(&mut wheel, at + TICK), vec![0, 1, 2, 3]);
}

#[test]
fn equal_deadlines_armed_from_different_levels_still_fire_in_order() {
    // The first is armed while the deadline is far (a high level), the second once the wheel
    // has caught up close to it (level 0); moving the first down must not put it behind.
    let mut wheel = TimerWheel::default();
    let at = wheel.origin + ms(300);
    wheel.insert(at, 1);
    assert_eq!(due(&mut wheel, at - Duration::from_micros(20)), vec![]);
    wheel.insert(at, 2);
    assert_eq!(due(&mut wheel, at + TICK), vec![1, 2]);
}

#[test]
fn a_reused_slot_does_not_accept_a_stale_id() {
    let mut wheel = TimerWheel::default();
    let now = wheel.origin;
    let old = wheel.insert(now, 1);
    assert_eq!(due(&mut wheel, now), vec![1]);
    assert!(!wheel.is_armed(old), "a fired timer is no longer armed");
    let new = wheel.insert(now, 2);
    assert!(!wheel.remove(old), "removing a fired timer is harmless");
    assert!(wheel.is_armed(new));
    assert_eq!(wheel.len(), 1);
}

#[test]
fn never_fires_before_the_deadline_across_every_level() {
    let mut wheel = TimerWheel::default();
    let base = wheel.origin;
    // Deadlines from a microsecond to a day, each landing in a different level at first.
    let delays: Vec<Duration> = (0..17)
        .map(|k| Duration::from_nanos(1500 << (2 * k)))
        .collect();
    for (task, &delay) in delays.iter().enumerate() {
        wheel.insert(base + delay, task as u32);
    }
    // Walk the clock forward in uneven steps, checking every timer that fires.
    let mut now = base;
    let mut fired = Vec::new();
    while !wheel.is_empty() {
        now += Duration::from_nanos(now.duration_since(base).as_nanos() as u64 / 3 + 777);
        for task in due(&mut wheel, now) {
            assert!(
                now >= base + delays[task as usize],
                "timer {task} fired early"
            );
            fired.push(task);
        }
    }
    assert_eq!(fired, (0..17).collect::<Vec<u32>>());
}

#[test]
fn a_timer_fires_within_a_tick_of_its_deadline() {
    let mut wheel = TimerWheel::default();
    let deadline = wheel.origin + Duration::from_micros(123_457);
    wheel.insert(deadline, 7);
    assert_eq!(due(&mut wheel, deadline - Duration::from_nanos(1)), vec![]);
    assert_eq!(due(&mut wheel, deadline + TICK), vec![7]);
}

#[test]
fn next_deadline_is_when_the_earliest_timer_can_fire_or_sooner() {
    let mut wheel = TimerWheel::default();
    let base = wheel.origin;
    assert_eq!(
        wheel.next_deadline(),
        None,
        "an empty wheel asks for no wake-up"
    );
    wheel.insert(base + ms(40), 1);
    let near = base + Duration::from_micros(30);
    wheel.insert(near, 2);
    let next = wheel.next_deadline().unwrap();
    assert!(
        next >= near && next - near < TICK,
        "its deadline, rounded up to a tick"
    );
    assert_eq!(due(&mut wheel, next), vec![2]);
    // The 40 ms timer waits in a higher level: the hub may wake up where it moves down, never
    // after its deadline; following next_deadline reaches it in a few steps.
    let mut steps = 0;
    loop {
        let next = wheel.next_deadline().unwrap();
        assert!(next <= base + ms(40) + TICK);
        steps += 1;
        let fired = due(&mut wheel, next);
        if !fired.is_empty() {
            assert_eq!(fired, vec![1]);
            break;
        }
    }
    assert!(steps <= LEVELS, "{steps} wake-ups on the way to one timer");
    assert_eq!(wheel.next_deadline(), None);
}

#[test]
fn a_timer_armed_in_the_past_is_due_at_once() {
    let mut wheel = TimerWheel::default();
    let base = wheel.origin;
    assert_eq!(due(&mut wheel, base + ms(50)), vec![]);
    wheel.insert(base + ms(10), 3);
    assert!(wheel.next_deadline().unwrap() <= base + ms(50));
    assert_eq!(due(&mut wheel, base + ms(50)), vec![3]);
}

#[test]
fn far_deadlines_wait_and_the_farthest_are_clamped_not_wrapped() {
    let mut wheel = TimerWheel::default();
    let base = wheel.origin;
    let hours = base + Duration::from_secs(5 * 3600);
    wheel.insert(hours, 1);
    if let Some(centuries) = base.checked_add(Duration::from_secs(1 << 40)) {
        wheel.insert(centuries, 2);
    }
    assert_eq!(due(&mut wheel, hours - ms(1)), vec![]);
    assert_eq!(due(&mut wheel, hours + TICK), vec![1]);
    assert!(wheel.next_deadline().is_none_or(|next| next > hours));
}

#[test]
fn removal_empties_slots_so_nothing_is_left_to_wake_for() {
    let mut wheel = TimerWheel::default();
    let base = wheel.origin;
    let ids: Vec<_> = (0..1000u32)
        .map(|i| wheel.insert(base + Duration::from_micros(i as u64 * 37), i))
        .collect();
    for id in ids.iter().rev() {
        assert!(wheel.remove(*id));
    }
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_deadline(), None);
    assert_eq!(due(&mut wheel, base + ms(100)), vec![]);
}

#[test]
fn many_timers_fire_in_deadline_order_with_removals_between() {
    let mut wheel = TimerWheel::default();
    let base = wheel.origin;
    // A cheap deterministic shuffle of deadlines over ~2 s, a third of them removed.
    let deadline = |i: u64| base + Duration::from_micros((i * 7_919) % 2_000_003);
    let ids: Vec<_> = (0..3000u64)
        .map(|i| wheel.insert(deadline(i), i as u32))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        if i % 3 == 0 {
            assert!(wheel.remove(*id));
        }
    }
    let mut now = base;
    let mut last = base;
    let mut fired = 0;
    while !wheel.is_empty() {
        now += Duration::from_micros(997);
        for task in due(&mut wheel, now) {
            let at = deadline(task as u64);
            assert!(task % 3 != 0, "a removed timer fired");
            assert!(at <= now, "fired early");
            // In deadline order, up to the tick: deadlines within one tick fire in the order
            // they were armed.
            assert!(at + TICK > last, "out of order");
            last = at;
            fired += 1;
        }
    }
    assert_eq!(fired, 2000);
}
