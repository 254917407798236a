//! Green threads as a user sees them: start one ([`spawn`], [`spawn_on`], [`Builder`]), wait
//! for it ([`JoinHandle`]), and the blocking-looking basics it calls (park, sleep, yield,
//! [`unblock`]). Each works inside a hub and falls back to its `std::thread` twin outside one.

mod blocking;
mod future;
mod join;
mod local;
mod park;
mod spawn;

pub use blocking::unblock;
pub use future::block_on;
pub(crate) use join::Canceller;
pub use join::{JoinError, JoinHandle};
pub use local::GreenLocal;
pub(crate) use park::park_raw_in_wait_list;
pub use park::{
    current, current_hub, hub_count, park, park_timeout, sleep, sleep_until, yield_now,
};
pub use spawn::{spawn, spawn_later, spawn_on, Builder};
pub(crate) use spawn::{spawn_here, spawn_then};
