//! Realtime model prices (USD per 1M tokens), from the provider's published
//! pricing (see `../shared/realtime-protocol.md` §7; re-check before relying
//! on them), and the per-minute estimate `--dry-run` uses.

/// Text in, cached text in, text out, audio in, cached audio in, audio out.
pub type Prices = [f64; 6];

pub const GPT_REALTIME: Prices = [4.0, 0.4, 16.0, 32.0, 0.4, 64.0];

pub fn for_model(model: &str) -> Prices {
    match model {
        m if m.starts_with("gpt-realtime-2.1-mini") || m.starts_with("gpt-realtime-mini") => {
            [0.6, 0.06, 2.4, 10.0, 0.3, 20.0]
        }
        m if m.starts_with("gpt-4o-mini-realtime") => [0.6, 0.3, 2.4, 10.0, 0.3, 20.0],
        m if m.starts_with("gpt-4o-realtime") => [5.0, 2.5, 20.0, 40.0, 2.5, 80.0],
        m if m.starts_with("gpt-realtime-2") => [4.0, 0.4, 24.0, 32.0, 0.4, 64.0],
        _ => GPT_REALTIME,
    }
}

/// A rough cost of one minute of call on `prices`: about half a minute of
/// agent speech (1 token per 50 ms out), and the conversation so far re-billed
/// as input on each of ~6 responses a minute, mostly from cache (1 token per
/// 100 ms of caller audio, 1 per 50 ms of agent audio).
pub fn per_call_minute(prices: &Prices) -> f64 {
    let audio_out = 600.0;
    let history_in = 6.0 * (0.5 * 1200.0 + 0.3 * 600.0) / 2.0;
    let fresh_in = 0.3 * 600.0 * 6.0 / 6.0;
    let cached_in = history_in - fresh_in;
    (audio_out * prices[5]
        + fresh_in * prices[3]
        + cached_in.max(0.0) * prices[4]
        + 300.0 * prices[0] * 0.1)
        / 1e6
}
