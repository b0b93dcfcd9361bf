//! What calls cost: published per-token prices by model, and the one
//! function that prices a session's usage. `--max-cost`, `--dry-run` and the
//! tables all price through here.
//!
//! Prices are USD per 1M tokens as published by OpenAI
//! (<https://openai.com/api/pricing/> and the model pages under
//! <https://platform.openai.com/docs/models>), read on [`PRICES_AS_OF`].
//! Providers change them; re-check before relying on a figure. A model not
//! listed here has no price, and its calls show no cost rather than a guess.

use crate::run_folder::{ConversationOutcome, UsageTotals};

/// When the table below was read from the provider's pages.
pub const PRICES_AS_OF: &str = "2026-07-01";

/// USD per 1M tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenPrices {
    pub text_in: f64,
    pub cached_text_in: f64,
    pub text_out: f64,
    pub audio_in: f64,
    pub cached_audio_in: f64,
    pub audio_out: f64,
}

const fn text_only(text_in: f64, cached_text_in: f64, text_out: f64) -> TokenPrices {
    TokenPrices {
        text_in,
        cached_text_in,
        text_out,
        audio_in: 0.0,
        cached_audio_in: 0.0,
        audio_out: 0.0,
    }
}

pub const GPT_REALTIME: TokenPrices = TokenPrices {
    text_in: 4.0,
    cached_text_in: 0.4,
    text_out: 16.0,
    audio_in: 32.0,
    cached_audio_in: 0.4,
    audio_out: 64.0,
};

pub const GPT_REALTIME_2: TokenPrices = TokenPrices {
    text_out: 24.0,
    ..GPT_REALTIME
};

pub const GPT_REALTIME_MINI: TokenPrices = TokenPrices {
    text_in: 0.6,
    cached_text_in: 0.06,
    text_out: 2.4,
    audio_in: 10.0,
    cached_audio_in: 0.3,
    audio_out: 20.0,
};

pub const GPT_4O_REALTIME: TokenPrices = TokenPrices {
    text_in: 5.0,
    cached_text_in: 2.5,
    text_out: 20.0,
    audio_in: 40.0,
    cached_audio_in: 2.5,
    audio_out: 80.0,
};

pub const GPT_4O_MINI_REALTIME: TokenPrices = TokenPrices {
    cached_text_in: 0.3,
    ..GPT_REALTIME_MINI
};

/// A model's published prices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    /// The model name; dated snapshots (`gpt-realtime-2025-08-28`) and
    /// previews (`gpt-4o-realtime-preview`) are priced as it.
    pub model: &'static str,
    pub prices: TokenPrices,
}

const fn model(model: &'static str, prices: TokenPrices) -> ModelPrice {
    ModelPrice { model, prices }
}

/// Every model with a published price, most specific name first.
pub const TABLE: &[ModelPrice] = &[
    model("gpt-realtime-2.1-mini", GPT_REALTIME_MINI),
    model("gpt-realtime-mini", GPT_REALTIME_MINI),
    model("gpt-realtime-2", GPT_REALTIME_2),
    model("gpt-realtime", GPT_REALTIME),
    model("gpt-4o-mini-realtime", GPT_4O_MINI_REALTIME),
    model("gpt-4o-realtime", GPT_4O_REALTIME),
    // Chat models a simulated caller or a judge commonly runs on.
    model("gpt-4.1-nano", text_only(0.1, 0.025, 0.4)),
    model("gpt-4.1-mini", text_only(0.4, 0.1, 1.6)),
    model("gpt-4.1", text_only(2.0, 0.5, 8.0)),
    model("gpt-4o-mini", text_only(0.15, 0.075, 0.6)),
    model("gpt-4o", text_only(2.5, 1.25, 10.0)),
];

/// `name` is `model` itself or a variant of it: a dated snapshot or a
/// preview (`-` and more after the name). `gpt-realtime-2025-08-28` is a
/// `gpt-realtime`, not a `gpt-realtime-2`: a date is not a version.
fn is_model(name: &str, model: &str) -> bool {
    match name.strip_prefix(model) {
        Some("") => true,
        Some(rest) => {
            let rest = rest.strip_prefix('-').unwrap_or("");
            let dated = rest.len() >= 4 && rest.chars().take(4).all(|c| c.is_ascii_digit());
            dated || rest.starts_with("preview")
        }
        None => false,
    }
}

/// The published prices of `model`, if it is in the table.
pub fn for_model(model: &str) -> Option<TokenPrices> {
    TABLE
        .iter()
        .find(|m| is_model(model, m.model))
        .map(|m| m.prices)
}

/// USD for `usage` on `model`; None for a model without a published price
/// or a session that made no response.
pub fn cost(model: &str, usage: &UsageTotals) -> Option<f64> {
    if usage.responses == 0 {
        return None;
    }
    let p = for_model(model)?;
    let fresh = |all: u64, cached: u64| all.saturating_sub(cached) as f64;
    let usd = fresh(usage.input_text_tokens, usage.cached_text_tokens) * p.text_in
        + usage.cached_text_tokens as f64 * p.cached_text_in
        + usage.output_text_tokens as f64 * p.text_out
        + fresh(usage.input_audio_tokens, usage.cached_audio_tokens) * p.audio_in
        + usage.cached_audio_tokens as f64 * p.cached_audio_in
        + usage.output_audio_tokens as f64 * p.audio_out;
    Some(usd / 1e6)
}

/// The agent's cost of a call, at its model's prices.
pub fn agent_cost(outcome: &ConversationOutcome) -> Option<f64> {
    cost(outcome.model.as_deref()?, &outcome.usage)
}

/// The simulated caller's cost of a call (a Realtime or chat model).
pub fn caller_cost(outcome: &ConversationOutcome) -> Option<f64> {
    let caller = outcome.caller.as_ref()?;
    cost(&caller.model, &caller.usage)
}

/// What a recorded call spent, agent and caller together (judging comes on
/// top, once scored): what `--max-cost` counts.
pub fn call_cost(outcome: &ConversationOutcome) -> f64 {
    agent_cost(outcome).unwrap_or(0.0) + caller_cost(outcome).unwrap_or(0.0)
}

/// A rough cost of one minute of call: about half a minute of agent speech
/// (1 token per 50 ms out), and the conversation so far re-billed as input
/// on each of ~6 responses a minute, mostly from cache (1 token per 100 ms
/// of caller audio, 1 per 50 ms of agent audio). `--dry-run` multiplies it
/// by the planned minutes.
pub fn per_call_minute(model: &str) -> Option<f64> {
    let history_in: f64 = 6.0 * (0.5 * 1200.0 + 0.3 * 600.0) / 2.0;
    let fresh_in: f64 = 0.3 * 600.0;
    let usage = UsageTotals {
        responses: 6,
        input_text_tokens: 30,
        input_audio_tokens: history_in as u64,
        cached_text_tokens: 0,
        cached_audio_tokens: (history_in - fresh_in).max(0.0) as u64,
        output_text_tokens: 0,
        output_audio_tokens: 600,
    };
    cost(model, &usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage() -> UsageTotals {
        UsageTotals {
            responses: 10,
            input_text_tokens: 5_000,
            input_audio_tokens: 3_000,
            cached_text_tokens: 2_000,
            cached_audio_tokens: 1_000,
            output_text_tokens: 400,
            output_audio_tokens: 1_200,
        }
    }

    #[test]
    fn the_same_usage_costs_what_each_model_publishes() {
        // By hand from the published table: (fresh text in, cached text,
        // text out, fresh audio in, cached audio, audio out) × prices.
        let full = (3000.0 * 4.0
            + 2000.0 * 0.4
            + 400.0 * 16.0
            + 2000.0 * 32.0
            + 1000.0 * 0.4
            + 1200.0 * 64.0)
            / 1e6;
        let mini = (3000.0 * 0.6
            + 2000.0 * 0.06
            + 400.0 * 2.4
            + 2000.0 * 10.0
            + 1000.0 * 0.3
            + 1200.0 * 20.0)
            / 1e6;
        let at = |m: &str| cost(m, &usage()).unwrap();
        assert!((at("gpt-realtime") - full).abs() < 1e-12);
        assert!((at("gpt-realtime-mini") - mini).abs() < 1e-12);
        assert!((at("gpt-realtime-mini-2025-10-06") - mini).abs() < 1e-12);
        assert!(
            (at("gpt-realtime") / at("gpt-realtime-mini") - full / mini).abs() < 1e-9,
            "mini is cheaper by the published ratio"
        );
    }

    #[test]
    fn dated_snapshots_and_previews_are_priced_as_their_model() {
        let at = |m: &str| for_model(m);
        assert_eq!(at("gpt-realtime-2025-08-28"), Some(GPT_REALTIME));
        assert_eq!(at("gpt-realtime-2"), Some(GPT_REALTIME_2));
        assert_eq!(at("gpt-realtime-2-2026-05-01"), Some(GPT_REALTIME_2));
        assert_eq!(at("gpt-realtime-mini-2025-10-06"), Some(GPT_REALTIME_MINI));
        assert_eq!(
            at("gpt-4o-realtime-preview-2024-12-17"),
            Some(GPT_4O_REALTIME)
        );
        assert_eq!(
            at("gpt-4o-mini-realtime-preview"),
            Some(GPT_4O_MINI_REALTIME)
        );
        assert_eq!(at("gpt-4o-mini-2024-07-18"), for_model("gpt-4o-mini"));
        assert_eq!(at("gpt-realtimer"), None);
        assert_eq!(at("gpt-4o-transcribe"), None, "not a chat price");
    }

    #[test]
    fn unknown_models_and_idle_sessions_have_no_price() {
        assert_eq!(cost("my-local-model", &usage()), None);
        assert_eq!(cost("gpt-realtime", &UsageTotals::default()), None);
        assert!(
            per_call_minute("gpt-realtime").unwrap()
                > per_call_minute("gpt-realtime-mini").unwrap()
        );
    }
}
