//! What the workers of a pool share to defend themselves against abusive
//! clients, in memory mapped before they fork (as the scoreboard is) and
//! kept across reloads.
//!
//! - The pool's pressure: the supervisor says when the pool is nearly
//!   full, and a client that has not logged in then has
//!   [`PRESSURE_LOGIN_TIMEOUT`](crate::limits::PRESSURE_LOGIN_TIMEOUT)
//!   instead of `--login-timeout` (as Apache's mod_reqtimeout shortens what
//!   a slow client may take).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::SharedSlice;

/// Index of the pressure flag.
const PRESSURE: usize = 0;
/// Words of the shared state.
const WORDS: usize = 1;

/// The shared defences of one pool.
pub struct Guard {
    words: SharedSlice<AtomicU32>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").field("under_pressure", &self.under_pressure()).finish()
    }
}

impl Guard {
    /// Maps the shared state (before the workers fork).
    pub fn new() -> nix::Result<Guard> {
        Ok(Guard { words: SharedSlice::new(WORDS)? })
    }

    /// The supervisor: the pool is nearly full (or no longer).
    pub fn set_pressure(&self, on: bool) {
        self.words.get()[PRESSURE].store(u32::from(on), Ordering::Relaxed);
    }

    /// True while the pool is nearly full.
    pub fn under_pressure(&self) -> bool {
        self.words.get()[PRESSURE].load(Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_is_set_and_read() {
        let g = Guard::new().unwrap();
        assert!(!g.under_pressure());
        g.set_pressure(true);
        assert!(g.under_pressure());
        g.set_pressure(false);
        assert!(!g.under_pressure());
    }
}
