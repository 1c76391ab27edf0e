//! Time, injectable: tests and drills move the clock to the deadline without waiting.

use std::sync::Mutex;

pub trait Clock: Send + Sync {
    fn now(&self) -> jiff::Timestamp;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(Mutex<jiff::Timestamp>);

impl ManualClock {
    pub fn new(at: jiff::Timestamp) -> Self {
        Self(Mutex::new(at))
    }
    pub fn set(&self, at: jiff::Timestamp) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Resolves once `clock` says `at` has come. Polls (a clock may be simulated or moved by
/// hand), at most a second apart.
pub async fn wait_until(clock: &dyn Clock, at: jiff::Timestamp) {
    loop {
        let now = clock.now();
        if now >= at {
            return;
        }
        let left = at.duration_since(now).unsigned_abs();
        tokio::time::sleep(left.min(std::time::Duration::from_secs(1))).await;
    }
}
