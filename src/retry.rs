//! Retrying what a provider fails transiently: one policy for every HTTP call
//! (judge, transcription, chat caller, speech) and for whole conversations.
//!
//! Waits follow the official SDKs: the server's `retry-after-ms` /
//! `retry-after` when given (honoured up to two minutes), else exponential
//! backoff from 0.5 s with jitter, so a fleet of clients that failed together
//! does not retry together.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub max_backoff: Duration,
    /// Longest server-requested wait we honour; longer ones are capped.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub const HTTP: RetryPolicy = RetryPolicy {
        attempts: 4,
        base: Duration::from_millis(500),
        max_backoff: Duration::from_secs(8),
        max_retry_after: Duration::from_secs(120),
    };

    /// Whole conversations: `retries` more tries after the first.
    pub fn conversations(retries: u32) -> RetryPolicy {
        RetryPolicy {
            attempts: retries + 1,
            ..RetryPolicy::HTTP
        }
    }

    /// The wait before retry number `retry` (1-based): the server's request
    /// if it made one, else `base·2^(retry-1)` capped, scaled by a random
    /// factor in [0.5, 1] ("equal jitter": never zero, never in lockstep).
    pub fn wait(&self, retry: u32, server_asked: Option<Duration>) -> Duration {
        if let Some(asked) = server_asked {
            return asked.min(self.max_retry_after);
        }
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_backoff);
        exp.mul_f64(0.5 + 0.5 * jitter_unit())
    }
}

/// A number in [0, 1) that differs between calls and processes. Jitter needs
/// spread, not reproducibility or cryptographic quality.
fn jitter_unit() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        ^ u64::from(std::process::id());
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Statuses worth retrying: timeout, conflict, rate limit, server errors.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || (500..600).contains(&status)
}

/// The wait a response asks for: `retry-after-ms`, else `retry-after` in
/// seconds (HTTP dates are not honoured; backoff applies instead).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// The wait inside a rate-limit message: "… Please try again in 20ms." /
/// "in 2.5s" / "in 1m3.2s".
pub fn retry_after_in_message(message: &str) -> Option<Duration> {
    let at = message.find("try again in ")? + "try again in ".len();
    let rest = &message[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(rest.len());
    let spec = rest[..end].trim_end_matches('.');
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = spec.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return None,
            }
        };
        total += value * unit;
        any = true;
    }
    (any && number.is_empty()).then(|| Duration::from_secs_f64(total))
}

/// Why an HTTP call failed after its retries.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
pub struct HttpFailure {
    pub message: String,
    pub attempts: u32,
}

/// Sends a request built by `build` until `parse` accepts a successful reply
/// or the policy gives up. Transport errors, retryable statuses and replies
/// that fail to parse (a proxy's HTML page, a truncated body) are retried;
/// other statuses fail at once. `what` names the endpoint in messages, which
/// never include the URL's query or any header.
pub async fn send_with_retries<T>(
    policy: &RetryPolicy,
    what: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
    parse: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<T, HttpFailure> {
    let mut last = String::new();
    for attempt in 1..=policy.attempts.max(1) {
        let asked = match build().send().await {
            Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                Ok(body) => match parse(&body) {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        last = format!("{what} sent an unreadable reply: {e}");
                        None
                    }
                },
                Err(e) => {
                    last = format!("{what} reply broke off: {}", e.without_url());
                    None
                }
            },
            Ok(resp) => {
                let status = resp.status();
                last = format!("{what} answered {status}");
                let should_retry = resp
                    .headers()
                    .get("x-should-retry")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v == "true");
                if !should_retry.unwrap_or_else(|| retryable_status(status.as_u16())) {
                    return Err(HttpFailure {
                        message: last,
                        attempts: attempt,
                    });
                }
                retry_after(resp.headers())
            }
            Err(e) => {
                last = format!("{what} request failed: {}", e.without_url());
                None
            }
        };
        if attempt < policy.attempts {
            tokio::time::sleep(policy.wait(attempt, asked)).await;
        }
    }
    Err(HttpFailure {
        message: last,
        attempts: policy.attempts.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy::HTTP;
        for retry in 1..=8u32 {
            let exp = (0.5 * 2f64.powi(retry as i32 - 1)).min(8.0);
            let w = p.wait(retry, None).as_secs_f64();
            assert!(
                w >= exp * 0.5 - 1e-9 && w <= exp + 1e-9,
                "retry {retry}: {w}"
            );
        }
        let waits: Vec<Duration> = (0..20).map(|_| p.wait(3, None)).collect();
        assert!(
            waits.iter().any(|w| *w != waits[0]),
            "jitter must spread retries"
        );
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(900))),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn reads_the_wait_from_headers_and_messages() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let msg = |s: &str| retry_after_in_message(s);
        assert_eq!(
            msg("Limit 40000. Please try again in 20ms."),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            msg("Please try again in 2.5s. Visit"),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(msg("try again in 1m3s"), Some(Duration::from_secs(63)));
        assert_eq!(msg("Rate limit reached."), None);
        assert_eq!(msg("try again in soon"), None);
        assert!(
            retryable_status(429)
                && retryable_status(503)
                && !retryable_status(400)
                && !retryable_status(401)
        );
    }
}
