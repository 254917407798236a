//! Who may come in. Every connection is admitted here before its session starts and holds an
//! [`Admission`] until its socket is closed, so a session whose writer is still flushing (or
//! giving up on a client that stopped reading) keeps counting against every limit: the total
//! (`max_clients`), its address's (`max_per_ip`) and, at connect time, its address's connect
//! rate (a token bucket, as IRC daemons throttle reconnect loops).

use super::Config;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Told to a client over `max_clients`.
pub(super) const FULL: &str = "!!! server full, try again later; closing\n";
/// Told to a connection over `max_per_ip`.
pub(super) const TOO_MANY: &str = "!!! too many connections from your address; closing\n";
/// Told to a connection over its address's connect rate.
pub(super) const TOO_OFTEN: &str =
    "!!! connecting too often from your address; wait a minute; closing\n";

/// Addresses remembered with no connection open (for their connect rate) before the ones
/// whose bucket has refilled are forgotten.
const REMEMBERED: usize = 4096;

/// One address: its open connections and its connect tokens.
struct Address {
    open: usize,
    tokens: f64,
    refilled: Instant,
}

#[derive(Default)]
struct Counts {
    open: usize,
    addresses: HashMap<IpAddr, Address>,
}

/// The server's admission counts.
pub(super) struct Admissions {
    max_clients: usize,
    max_per_ip: usize,
    burst: f64,
    per_second: f64,
    counts: Mutex<Counts>,
}

/// A connection's place, given back when it drops (after its socket is closed).
pub(super) struct Admission {
    admissions: Arc<Admissions>,
    ip: IpAddr,
}

impl Admissions {
    pub(super) fn new(config: &Config) -> Arc<Admissions> {
        Arc::new(Admissions {
            max_clients: config.max_clients,
            max_per_ip: config.max_per_ip,
            burst: f64::from(config.connect_burst.max(1)),
            per_second: f64::from(config.connects_per_minute) / 60.0,
            counts: Mutex::default(),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip`, or returns the line to tell it before the close.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, &'static str> {
        let now = Instant::now();
        let mut counts = self.counts();
        if counts.addresses.len() >= REMEMBERED {
            let (burst, rate) = (self.burst, self.per_second);
            counts.addresses.retain(|_, a| {
                a.open > 0 || a.tokens + now.duration_since(a.refilled).as_secs_f64() * rate < burst
            });
        }
        let burst = self.burst;
        let address = counts.addresses.entry(ip).or_insert(Address {
            open: 0,
            tokens: burst,
            refilled: now,
        });
        if self.max_per_ip > 0 && address.open >= self.max_per_ip {
            return Err(TOO_MANY);
        }
        if self.per_second > 0.0 {
            let earned = now.duration_since(address.refilled).as_secs_f64() * self.per_second;
            address.tokens = (address.tokens + earned).min(self.burst);
            address.refilled = now;
            if address.tokens < 1.0 {
                return Err(TOO_OFTEN);
            }
            address.tokens -= 1.0;
        }
        if counts.open >= self.max_clients {
            return Err(FULL);
        }
        counts.open += 1;
        if let Some(address) = counts.addresses.get_mut(&ip) {
            address.open += 1;
        }
        Ok(Admission {
            admissions: self.clone(),
            ip,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self.admissions.counts();
        counts.open -= 1;
        if let Some(address) = counts.addresses.get_mut(&self.ip) {
            address.open -= 1;
        }
    }
}
