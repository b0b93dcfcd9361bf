//! Server-assigned ids (`event_…`, `item_…`, `resp_…`), unique per session.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct IdGen {
    salt: u64,
    next: AtomicU64,
}

impl IdGen {
    pub fn new(salt: u64) -> Self {
        IdGen {
            salt,
            next: AtomicU64::new(1),
        }
    }

    pub fn make(&self, prefix: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{:010x}{n:06x}", self.salt & 0xff_ffff_ffff)
    }
}
