//! The table `rehearse guardrails` prints and writes
//! (`guardrail-replay.md`): per debounce setting and guardrail, how often a
//! trip was caught before the caller heard it, how much was heard, and what
//! the checks took and cost.

use std::fmt::Write as _;

use crate::guardrails::replay::ReplayRow;

/// The replay's Markdown table, with a line on how to read it.
pub fn markdown(rows: &[ReplayRow]) -> String {
    let mut out = String::from(
        "# Guardrail replay\n\n\
         Each guardrail re-run over the recorded transcript deltas at their arrival \
         times, once per debounce setting; a trip is placed against the audio as it \
         played. *Caught* means decided before the first trigger word played; *heard* \
         is how much of the trigger words played before the guardrail decided.\n\n\
         | debounce (chars) | guardrail | responses | checks | trips | caught before heard | heard ms (mean / max) | heard words | check latency p50 / p95 (ms) | classifier calls | cost (USD) |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let debounce = match r.debounce_chars {
            0 => "end only".to_string(),
            n => n.to_string(),
        };
        let caught = match r.caught_rate() {
            Some(rate) => format!(
                "{}/{} ({:.0}%)",
                r.caught_before_heard,
                r.trips,
                rate * 100.0
            ),
            None => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {debounce} | {} | {} | {} | {} | {caught} | {} / {} | {} | {} / {} | {} | {:.4} |",
            r.guardrail,
            r.responses,
            r.checks,
            r.trips,
            ms(r.heard_ms_mean),
            ms(r.heard_ms_max),
            r.heard_words,
            ms(r.latency_p50_ms),
            ms(r.latency_p95_ms),
            r.classifier_calls,
            r.cost_usd,
        );
    }
    let failed: usize = rows.iter().map(|r| r.failed_checks).sum();
    if failed > 0 {
        let _ = writeln!(
            out,
            "\n{failed} check(s) failed (classifier timeout or an answer off the question): a failed check never trips."
        );
    }
    let cut: usize = rows.iter().map(|r| r.cut_live).max().unwrap_or(0);
    if cut > 0 {
        let _ = writeln!(
            out,
            "\n{cut} response(s) were cut by a live guardrail: words after the cut never arrived, so later settings cannot trip on them. Record with `rehearse run --guardrails observe` to replay whole responses."
        );
    }
    out
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_setting_with_rates_and_dashes() {
        let rows = vec![
            ReplayRow {
                debounce_chars: 50,
                guardrail: "refunds".into(),
                responses: 4,
                checks: 9,
                trips: 2,
                caught_before_heard: 1,
                heard_ms_mean: Some(310.4),
                heard_ms_max: Some(620.8),
                heard_words: 2,
                latency_p50_ms: Some(0.0),
                latency_p95_ms: Some(0.0),
                ..ReplayRow::default()
            },
            ReplayRow {
                debounce_chars: 0,
                guardrail: "refunds".into(),
                responses: 4,
                checks: 4,
                ..ReplayRow::default()
            },
        ];
        let md = markdown(&rows);
        assert!(
            md.contains(
                "| 50 | refunds | 4 | 9 | 2 | 1/2 (50%) | 310 / 621 | 2 | 0 / 0 | 0 | 0.0000 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| end only | refunds | 4 | 4 | 0 | – | – / – | 0 | – / – | 0 | 0.0000 |"),
            "{md}"
        );
    }
}
