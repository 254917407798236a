//! What a hub drives besides green threads: descriptors (their readiness, their waiters, the
//! poller's token table) and timers. Nothing here parks or knows a hub; the hub calls in, and
//! the waits built on top live in `crate::io`.

mod io_state;
mod readiness;
mod sources;
mod timer;

pub(crate) use io_state::{Direction, IoState, PollingHub, Registration};
pub(crate) use sources::IoDriver;
pub(crate) use timer::{TimerId, TimerWheel};
