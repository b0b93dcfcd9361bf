//! Fault injection: the emulator misbehaves the way real providers do, so the
//! harness's handling of it can be tested and benchmarked.
//!
//! A spec is a comma-separated list of `kind[:parameter]=probability`, e.g.
//! `drop=0.05,rate_limit=0.05,garbage=0.01,delay:2s=0.1,close:1011=0.02`.
//! Each session draws at most one fault (probabilities are per session and
//! must sum to at most 1) and the response it strikes (one of the first
//! three), from the emulator's seed and the session number, so a run with a
//! seed meets the same faults every time.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// One way a provider misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The socket goes away mid-response with no close frame.
    Drop,
    /// The response starts this much later than it should.
    Delay(Duration),
    /// Nothing more is sent; the socket stays open.
    Stall,
    /// The response fails with `rate_limit_exceeded`, as the real service
    /// reports it: `response.done` with status `failed`.
    RateLimit,
    /// A text frame that is not JSON arrives mid-response.
    Garbage,
    /// An event arrives cut off mid-JSON (it is lost).
    Truncated,
    /// The server closes with this code mid-response.
    Close(u16),
    /// The session hits its maximum duration mid-response.
    Expire,
}

impl Fault {
    /// Whether the fault happens in the outgoing frame stream (the writer
    /// fires it at the first output delta) rather than in the responder.
    pub fn on_the_wire(self) -> bool {
        !matches!(self, Fault::Delay(_) | Fault::RateLimit)
    }
}

const KINDS: &str =
    "drop, delay:<duration>, stall, rate_limit, garbage, truncated, close:<code>, expire";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultSpec {
    mix: Vec<(Fault, f64)>,
}

/// The fault a session will meet, and on which response (1-based).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduledFault {
    pub fault: Fault,
    pub response: u32,
}

impl FaultSpec {
    pub fn parse(spec: &str) -> Result<FaultSpec, String> {
        let mut mix = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, p) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected kind=probability, e.g. drop=0.05"))?;
            let p: f64 = p
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=1.0).contains(p))
                .ok_or_else(|| format!("`{part}`: the probability must be a number from 0 to 1"))?;
            let (name, param) = match kind.trim().split_once(':') {
                Some((n, v)) => (n, Some(v)),
                None => (kind.trim(), None),
            };
            let fault = match (name, param) {
                ("drop", None) => Fault::Drop,
                ("stall", None) => Fault::Stall,
                ("rate_limit", None) => Fault::RateLimit,
                ("garbage", None) => Fault::Garbage,
                ("truncated", None) => Fault::Truncated,
                ("expire", None) => Fault::Expire,
                ("delay", Some(d)) => Fault::Delay(
                    humantime::parse_duration(d)
                        .map_err(|e| format!("`{part}`: delay needs a duration like 2s ({e})"))?,
                ),
                ("close", Some(code)) => Fault::Close(
                    code.parse()
                        .ok()
                        .filter(|c| (1000..5000).contains(c))
                        .ok_or_else(|| format!("`{part}`: close needs a code from 1000 to 4999"))?,
                ),
                ("close", None) => Fault::Close(1011),
                _ => return Err(format!("`{part}`: unknown fault; the kinds are {KINDS}")),
            };
            mix.push((fault, p));
        }
        let total: f64 = mix.iter().map(|(_, p)| p).sum();
        if total > 1.0 + 1e-9 {
            return Err(format!(
                "the probabilities add up to {total}; a session meets at most one fault, so they must add up to at most 1"
            ));
        }
        Ok(FaultSpec { mix })
    }

    pub fn is_empty(&self) -> bool {
        self.mix.iter().all(|(_, p)| *p == 0.0)
    }

    /// The fault (if any) for session `session_no` of an emulator seeded `seed`.
    pub fn schedule(&self, seed: u64, session_no: u64) -> Option<ScheduledFault> {
        if self.is_empty() {
            return None;
        }
        let mut rng = StdRng::seed_from_u64(seed ^ session_no.wrapping_mul(0xa076_1d64_78bd_642f));
        let draw: f64 = rng.random();
        let response = rng.random_range(1..=3);
        let mut acc = 0.0;
        for (fault, p) in &self.mix {
            acc += p;
            if draw < acc {
                return Some(ScheduledFault {
                    fault: *fault,
                    response,
                });
            }
        }
        None
    }
}

/// The message the real service sends in a rate-limited `response.done`.
pub fn rate_limit_message(model: &str) -> String {
    format!(
        "Rate limit reached for {model} on tokens per min (TPM): Limit 40000, Used 39669, Requested 800. Please try again in 20ms."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_rejects_nonsense() {
        let s = FaultSpec::parse("drop=0.1, delay:1500ms=0.1,stall=0.1,rate_limit=0.1,garbage=0.1,truncated=0.1,close:1013=0.1,expire=0.1").unwrap();
        assert_eq!(s.mix.len(), 8);
        assert_eq!(s.mix[1].0, Fault::Delay(Duration::from_millis(1500)));
        assert_eq!(s.mix[6].0, Fault::Close(1013));
        for bad in [
            "drop",
            "drop=2",
            "explode=0.1",
            "close:99=0.1",
            "delay=0.1",
            "drop=0.6,stall=0.6",
        ] {
            assert!(FaultSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(FaultSpec::parse("").unwrap().is_empty());
    }

    #[test]
    fn sessions_meet_faults_at_the_configured_rate_reproducibly() {
        let s = FaultSpec::parse("drop=0.05,rate_limit=0.05,garbage=0.01").unwrap();
        let draws: Vec<_> = (0..20_000).map(|n| s.schedule(7, n)).collect();
        let rate =
            |f: Fault| draws.iter().flatten().filter(|d| d.fault == f).count() as f64 / 20_000.0;
        assert!(
            (rate(Fault::Drop) - 0.05).abs() < 0.006,
            "{}",
            rate(Fault::Drop)
        );
        assert!((rate(Fault::RateLimit) - 0.05).abs() < 0.006);
        assert!((rate(Fault::Garbage) - 0.01).abs() < 0.003);
        assert!(
            draws
                .iter()
                .flatten()
                .all(|d| (1..=3).contains(&d.response))
        );
        assert_eq!(
            draws[..50],
            (0..50).map(|n| s.schedule(7, n)).collect::<Vec<_>>()[..]
        );
    }
}
