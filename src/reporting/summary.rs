//! `summary.md`: fits a CI job summary or a PR comment.

use std::fmt::Write;

use super::Report;
use super::compare::{AbComparison, Change, Comparison, Robustness, margin_text};
use crate::run_folder::CLEAN;

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn ci(lo: Option<f64>, hi: Option<f64>) -> String {
    match (lo, hi) {
        (Some(a), Some(b)) => format!("[{:.0}%, {:.0}%]", a * 100.0, b * 100.0),
        _ => "–".into(),
    }
}

/// Markdown table cells must not break the table or render markup.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

/// `$agent + $caller + $judge = $total`, leaving out parts that cost
/// nothing; `–` when nothing was priced.
fn cost(v: &super::VariantAggregate) -> String {
    let Some(total) = v.total_cost_usd() else {
        return "–".into();
    };
    let parts: Vec<String> = [
        ("agent", v.cost_usd),
        ("caller", v.caller_cost_usd),
        ("judge", v.judge_cost_usd),
    ]
    .iter()
    .filter_map(|(who, usd)| usd.map(|x| format!("${x:.4} {who}")))
    .collect();
    if parts.len() == 1 {
        return parts[0].clone();
    }
    format!("${total:.4} ({})", parts.join(" + "))
}

pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# rehearse run {}\n", cell(&r.run_id));
    let _ = writeln!(
        out,
        "| variant | conversations | passed | pass rate | 95% CI (Wilson) | pass^k | errors | TTFA p95 (mean) | cost (agent + caller + judge) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for v in &r.variants {
        let _ = writeln!(
            out,
            "| {} | {} | {}/{} | {} | {} | {} (k={}) | {} | {} | {} |",
            cell(&v.variant),
            v.tally.conversations,
            v.tally.passes,
            v.tally.decided,
            pct(v.tally.pass_rate),
            ci(v.tally.ci_low, v.tally.ci_high),
            pct(v.pass_hat_k),
            v.k,
            v.tally.errors,
            v.ttfa_p95_mean_ms
                .map(|x| format!("{x:.0} ms"))
                .unwrap_or_else(|| "–".into()),
            cost(v),
        );
    }
    conditions_markdown(r, &mut out);
    guardrails_markdown(r, &mut out);
    if !r.agreement.is_empty() {
        let _ = writeln!(
            out,
            "\n## Agreement with reviewers\n\n{}",
            super::agreement::markdown(&r.agreement)
        );
    }
    if r.harness_overloaded {
        let _ = writeln!(
            out,
            "\n**The harness could not keep up with realtime pacing**: its own delays are in this run's latencies (run.json: `harness_load`). Run fewer calls at once or on a larger machine."
        );
    }
    let failing: Vec<_> = r.checks.iter().filter(|c| c.decided > c.passes).collect();
    let _ = writeln!(out, "\n## Failing checks\n");
    if failing.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        let _ = writeln!(
            out,
            "| variant | scenario | check | passed | pass rate | 95% CI |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for c in failing {
            let _ = writeln!(
                out,
                "| {}{} | {} | `{}` | {}/{} | {} | {} |",
                cell(&c.variant),
                cell(&crate::run_folder::condition_suffix(&c.condition)),
                cell(&c.scenario),
                cell(&c.check),
                c.passes,
                c.decided,
                pct(c.pass_rate),
                ci(c.ci_low, c.ci_high)
            );
        }
    }
    if !r.not_run.is_empty() {
        let _ = writeln!(out, "\n## Not run\n");
        let _ = writeln!(out, "| variant | conversations | why |");
        let _ = writeln!(out, "|---|---|---|");
        for n in &r.not_run {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(&n.variant),
                n.conversations,
                cell(&n.why)
            );
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        let _ = writeln!(out, "| variant | scenario | note |");
        let _ = writeln!(out, "|---|---|---|");
        for n in &r.notes {
            let _ = writeln!(
                out,
                "| {} | {} #{} | {} |",
                cell(&n.variant),
                cell(&n.scenario),
                n.repeat,
                cell(&n.note)
            );
        }
    }
    if r.write_error_count > 0 {
        let n = r.write_error_count;
        let _ = writeln!(
            out,
            "\n## Failed writes\n\n{n} artifact {} failed; the run's files are incomplete (exit 3):\n",
            if n == 1 { "write" } else { "writes" }
        );
        for e in &r.write_errors {
            let _ = writeln!(out, "- {}", cell(e));
        }
    }
    let skipped: u32 = r.checks.iter().map(|c| c.skipped).sum();
    let errors: u32 = r.checks.iter().map(|c| c.errors).sum();
    let _ = writeln!(
        out,
        "\n{skipped} check results skipped (not run, never counted as passes), {errors} errored."
    );
    if !r.comparisons.is_empty() {
        out.push('\n');
        out.push_str(&comparisons_markdown(&r.comparisons));
    }
    if !r.robustness.is_empty() {
        out.push('\n');
        out.push_str(&robustness_markdown(&r.robustness));
    }
    out
}

/// Pass rate per variant × condition, when the run had a condition other
/// than `clean`.
/// Per variant with guardrails: trips, how many were caught before the
/// caller heard them, what was heard, the checks and what classifiers took.
fn guardrails_markdown(r: &Report, out: &mut String) {
    let mut by_variant: std::collections::BTreeMap<&str, Vec<&super::tables::ConversationRow>> =
        Default::default();
    for c in r
        .conversations
        .iter()
        .filter(|c| c.metrics.contains_key("guardrail.checks"))
    {
        by_variant.entry(&c.variant).or_default().push(c);
    }
    if by_variant.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Guardrails\n\n| variant | calls | checks | trips | caught before heard | heard ms per trip (mean) | failed checks | classifier p50 / p95 (ms, median / worst call) | classifier cost |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for (variant, calls) in by_variant {
        let sum = |k: &str| calls.iter().filter_map(|c| c.metrics.get(k)).sum::<f64>();
        let each = |k: &str| -> Vec<f64> {
            calls
                .iter()
                .filter_map(|c| c.metrics.get(k).copied())
                .collect()
        };
        let trips = sum("guardrail.trips");
        let caught = sum("guardrail.caught_before_heard");
        let caught_cell = match trips > 0.0 {
            true => format!("{caught:.0}/{trips:.0} ({:.0}%)", caught / trips * 100.0),
            false => "–".into(),
        };
        let heard = match trips > 0.0 {
            true => format!("{:.0}", sum("guardrail.heard_ms") / trips),
            false => "–".into(),
        };
        let p50 = super::stats::quantile(&each("guardrail.classifier_p50_ms"), 0.5);
        let p95 = each("guardrail.classifier_p95_ms")
            .into_iter()
            .reduce(f64::max);
        let classifier = match (p50, p95) {
            (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {trips:.0} | {caught_cell} | {heard} | {:.0} | {classifier} | ${:.4} |",
            cell(variant),
            calls.len(),
            sum("guardrail.checks"),
            sum("guardrail.failed_checks"),
            sum("guardrail.cost_usd"),
        );
    }
}

fn conditions_markdown(r: &Report, out: &mut String) {
    if r.condition_names.iter().all(|c| c == CLEAN) {
        return;
    }
    let _ = writeln!(out, "\n## Conditions\n");
    let _ = writeln!(
        out,
        "| variant | condition | conversations | passed | pass rate | 95% CI (Wilson) | errors | TTFA p95 (mean) | SNR measured (mean) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for c in &r.conditions {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}/{} | {} | {} | {} | {} | {} |",
            cell(&c.variant),
            cell(&c.condition),
            c.tally.conversations,
            c.tally.passes,
            c.tally.decided,
            pct(c.tally.pass_rate),
            ci(c.tally.ci_low, c.tally.ci_high),
            c.tally.errors,
            c.ttfa_p95_mean_ms
                .map(|x| format!("{x:.0} ms"))
                .unwrap_or_else(|| "–".into()),
            c.line_snr_db_mean
                .map(|x| format!("{x:.1} dB"))
                .unwrap_or_else(|| "–".into()),
        );
    }
}

/// The robustness tables: each condition against the first, per variant.
pub fn robustness_markdown(all: &[Robustness]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Robustness\n\nEach check under each condition against the same calls (same seeds) under `{}`.\n",
        all.first().map_or("", |r| r.baseline_condition.as_str())
    );
    let _ = writeln!(
        out,
        "| variant | condition | check | pairs | baseline | under condition | difference [95% CI] | p (McNemar exact) | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for r in all {
        for c in &r.checks {
            let _ = writeln!(
                out,
                "| {} | {} {}",
                cell(&r.variant),
                cell(&r.condition),
                check_cells(c)
            );
        }
    }
    out
}

/// A compared check as table cells: check, pairs, both pass rates, the
/// difference with its interval, p and the verdict.
fn check_cells(c: &Comparison) -> String {
    format!(
        "| `{}` | {} | {:.0}% | {:.0}% | {:+.0} pts [{:+.0}, {:+.0}] | ±{:.0} pts | {:.3} | {} |",
        cell(&c.check),
        c.pairs,
        c.baseline_pass_rate * 100.0,
        c.candidate_pass_rate * 100.0,
        c.difference * 100.0,
        c.ci_low * 100.0,
        c.ci_high * 100.0,
        c.margin * 100.0,
        c.p_value,
        verdict(c)
    )
}

/// A comparison's verdict in words.
fn verdict(c: &Comparison) -> String {
    match c.change {
        Change::Regressed => "**regressed**".to_string(),
        Change::NotEnoughData => format!(
            "not enough data (needs ≥ {} paired conversations)",
            c.needs_discordant_pairs.unwrap_or(0)
        ),
        other => other.words().to_string(),
    }
}

pub fn comparisons_markdown(all: &[AbComparison]) -> String {
    let mut out = String::new();
    for ab in all {
        let _ = writeln!(
            out,
            "## {} vs {} (baseline)\n",
            cell(&ab.candidate),
            cell(&ab.baseline)
        );
        let _ = writeln!(
            out,
            "| check | pairs | baseline | candidate | difference [95% CI] | margin | p (McNemar exact) | verdict |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for c in &ab.checks {
            let _ = writeln!(out, "{}", check_cells(c));
        }
        if !ab.metrics.is_empty() {
            let _ = writeln!(
                out,
                "\n| measure | pairs | baseline mean | candidate mean | difference [95% CI] | margin | change |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|");
            for m in &ab.metrics {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {:.2} | {:.2} | {:+.2} [{:+.2}, {:+.2}] | {} | {} |",
                    cell(&m.metric),
                    m.pairs,
                    m.baseline_mean,
                    m.candidate_mean,
                    m.difference,
                    m.ci_low,
                    m.ci_high,
                    margin_text(m.margin),
                    m.change.words()
                );
            }
        }
        out.push('\n');
    }
    out
}
