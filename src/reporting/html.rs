//! `report.html`: one self-contained file (no network, no scripts), rendered
//! with minijinja with HTML auto-escaping on, so transcripts, tool results
//! and judge reasoning can never inject markup. Charts are inline SVG built
//! here from numbers, with every label escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use minijinja::{AutoEscape, Environment, context};
use serde_json::{Value, json};

use super::Report;
use super::compare::{AbComparison, Change, margin_text};
use super::forest;
use super::junit::escape;
use crate::run_folder::{
    CheckKind, CheckStatus, RunFolder, Speaker, TOOLS, TRANSCRIPT, ToolCallRecord, Utterance,
    Verdict, read_jsonl, read_scores,
};

/// Conversations shown in full; the rest are summarised (a 10k-call run
/// would otherwise make a page no browser opens).
const MAX_DETAILED: usize = 200;
/// Characters of any one untrusted text shown.
const MAX_TEXT: usize = 2_000;

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT {
        return s.to_string();
    }
    format!("{}…", s.chars().take(MAX_TEXT).collect::<String>())
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn mmss(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0);
    format!("{:02}:{:04.1}", (s / 60.0) as u64, s % 60.0)
}

/// One bar: label, value 0–1, optional 95% interval.
type Bar = (String, Option<f64>, Option<(f64, f64)>);

/// Per scenario, per variant: conversations, passes, failing checks.
type ScenarioRows = BTreeMap<String, BTreeMap<String, (u32, u32, Vec<String>)>>;

/// Horizontal bars with interval whiskers.
fn bar_chart(rows: &[Bar]) -> String {
    let (w, row_h, label_w) = (760.0, 22.0, 320.0);
    let h = row_h * rows.len() as f64 + 10.0;
    let mut svg = format!("<svg width=\"{w}\" height=\"{h}\" role=\"img\">");
    for (i, (label, value, ci)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 5.0;
        let bar_w = (w - label_w - 60.0) * value.unwrap_or(0.0);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y + 14.0,
            escape(label)
        );
        let _ = write!(
            svg,
            "<rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"16\" fill=\"#4a7fd4\"/>"
        );
        if let Some((lo, hi)) = ci {
            let span = w - label_w - 60.0;
            let _ = write!(
                svg,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#1d2433\" stroke-width=\"1.5\"/>",
                label_w + span * lo,
                label_w + span * hi,
                y + 8.0,
                y + 8.0
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            w - 50.0,
            y + 14.0,
            pct(*value)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A histogram per variant of per-conversation response p50s.
fn latency_chart(series: &BTreeMap<String, Vec<f64>>) -> String {
    let all: Vec<f64> = series.values().flatten().copied().collect();
    if all.is_empty() {
        return "<p class=\"muted\">No latency measured.</p>".into();
    }
    let max = all.iter().copied().fold(0.0, f64::max).max(1.0);
    let bins = 20usize;
    let (w, h) = (760.0, 60.0 * series.len() as f64 + 20.0);
    let mut svg = format!("<svg width=\"{w}\" height=\"{h}\" role=\"img\">");
    for (row, (name, values)) in series.iter().enumerate() {
        let mut counts = vec![0usize; bins];
        for v in values {
            counts[((v / max) * (bins - 1) as f64).round() as usize] += 1;
        }
        let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let y0 = row as f64 * 60.0 + 55.0;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y0 - 40.0,
            escape(name)
        );
        for (i, c) in counts.iter().enumerate() {
            let bh = 40.0 * *c as f64 / top;
            let x = 160.0 + i as f64 * 28.0;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"24\" height=\"{bh:.1}\" fill=\"#7a9ad8\"/>",
                y0 - bh
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"160\" y=\"{:.1}\" font-size=\"11\">0 ms</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{max:.0} ms</text>",
        h - 2.0,
        160.0 + bins as f64 * 28.0,
        h - 2.0
    );
    svg.push_str("</svg>");
    svg
}

/// A moment a check points at on the timeline.
struct Mark {
    ms: f64,
    label: String,
    colour: &'static str,
}

/// Who spoke when: one lane per side, tool calls as ticks, cut turns in
/// red (dark red when a guardrail cut them), caller sounds pale, pauses
/// mid-sentence as gaps, the moments a turn-taking check failed as orange
/// marks and guardrail decisions as dark red ones.
fn timeline(transcript: &[Utterance], tools: &[ToolCallRecord], marks: &[Mark]) -> String {
    let end = transcript.iter().map(|u| u.end_ms).fold(1.0, f64::max);
    let (w, lane) = (760.0, 18.0);
    let x = |ms: f64| 70.0 + (w - 80.0) * ms / end;
    let mut svg = format!("<svg width=\"{w}\" height=\"70\" role=\"img\">");
    svg.push_str("<text x=\"0\" y=\"16\" font-size=\"11\">agent</text><text x=\"0\" y=\"40\" font-size=\"11\">caller</text>");
    for u in transcript {
        let (y, colour) = match (u.speaker, u.sound) {
            (Speaker::Agent, _) => match (&u.guardrail, u.interrupted) {
                (Some(_), _) => (4.0, GUARDRAIL_RED),
                (None, true) => (4.0, "#d9534f"),
                (None, false) => (4.0, "#4a7fd4"),
            },
            (Speaker::Customer, None) => (28.0, "#9b6bc2"),
            (Speaker::Customer, Some(_)) => (28.0, "#d6c3e6"),
        };
        let title = match (u.sound, &u.guardrail) {
            (Some(sound), _) => format!("{}: {}", sound.as_str(), clip(&u.text)),
            (None, Some(g)) => format!("cut by guardrail {g}: {}", clip(&u.text)),
            (None, None) => clip(&u.text),
        };
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{lane}\" fill=\"{colour}\"><title>{}</title></rect>",
            x(u.start_ms),
            (x(u.end_ms) - x(u.start_ms)).max(1.0),
            escape(&title)
        );
        for p in &u.pauses {
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{lane}\" fill=\"#fff\" stroke=\"#9b6bc2\" stroke-dasharray=\"2 2\"><title>pause {:.0} ms</title></rect>",
                x(p.start_ms),
                (x(p.end_ms) - x(p.start_ms)).max(1.0),
                p.end_ms - p.start_ms
            );
        }
    }
    for t in tools {
        let _ = write!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"50\" y2=\"62\" stroke=\"#16794a\" stroke-width=\"2\"><title>{1}</title></line>",
            x(t.called_ms),
            escape(&t.name)
        );
    }
    for m in marks {
        let _ = write!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"48\" stroke=\"{1}\" stroke-width=\"2\"><title>{2} at {3}</title></line>",
            x(m.ms),
            m.colour,
            escape(&m.label),
            mmss(m.ms)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"68\" font-size=\"10\" text-anchor=\"end\">{}</text>",
        w - 10.0,
        mmss(end)
    );
    svg.push_str("</svg>");
    svg
}

/// Evidence keys that place a failed turn-taking check on the timeline.
const MARK_KEYS: &[&str] = &["agent_stopped_ms", "agent_started_ms", "silent_from_ms"];
/// Agent turns a guardrail cut, and the moments guardrails decided.
const GUARDRAIL_RED: &str = "#8b1a1a";

/// The moments failed `interaction.*` checks point at (orange), and every
/// guardrail trip's decision (dark red), from the call's scores.
fn check_marks(call_dir: &std::path::Path) -> Vec<Mark> {
    fn walk(v: &Value, check: &str, keys: &[&str], colour: &'static str, out: &mut Vec<Mark>) {
        match v {
            Value::Object(fields) => {
                for (key, value) in fields {
                    match value.as_f64() {
                        Some(ms) if keys.contains(&key.as_str()) => out.push(Mark {
                            ms,
                            label: check.to_string(),
                            colour,
                        }),
                        _ => walk(value, check, keys, colour, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, check, keys, colour, out)),
            _ => {}
        }
    }
    let Ok(Some(sheet)) = read_scores(call_dir) else {
        return Vec::new();
    };
    let mut marks = Vec::new();
    for check in &sheet.checks {
        match (check.kind, check.status) {
            (CheckKind::Interaction, CheckStatus::Fail) => walk(
                &check.evidence,
                &check.name,
                MARK_KEYS,
                "#e8870e",
                &mut marks,
            ),
            (CheckKind::Guardrail, _) if check.name.ends_with(".caught") => {
                let label = format!("{} decided", check.name);
                walk(
                    &check.evidence,
                    &label,
                    &["decided_ms"],
                    GUARDRAIL_RED,
                    &mut marks,
                )
            }
            _ => {}
        }
    }
    marks
}

fn comparison_values(all: &[AbComparison]) -> Vec<Value> {
    all.iter()
        .map(|ab| {
            json!({"baseline": ab.baseline, "candidate": ab.candidate,
            "forest_checks": forest::pass_rates(ab), "forest_measures": forest::measures(ab),
            "rows": ab.checks.iter().map(|r| json!({
                "check": r.check, "pairs": r.pairs, "base": pct(Some(r.baseline_pass_rate)), "cand": pct(Some(r.candidate_pass_rate)),
                "diff": format!("{:+.0} pts [{:+.0}, {:+.0}]", r.difference * 100.0, r.ci_low * 100.0, r.ci_high * 100.0),
                "margin": format!("±{:.0} pts", r.margin * 100.0),
                "p": format!("{:.3}", r.p_value),
                "class": match r.change { Change::Regressed => "fail", Change::Improved => "pass", _ => "muted" },
                "verdict": match r.change {
                    Change::NotEnoughData => format!("not enough data (≥ {} pairs)", r.needs_discordant_pairs.unwrap_or(0)),
                    other => other.words().to_string() }
            })).collect::<Vec<_>>(),
            "metrics": ab.metrics.iter().map(|m| json!({
                "metric": m.metric, "pairs": m.pairs, "base": format!("{:.2}", m.baseline_mean), "cand": format!("{:.2}", m.candidate_mean),
                "diff": format!("{:+.2} [{:+.2}, {:+.2}]", m.difference, m.ci_low, m.ci_high),
                "margin": margin_text(m.margin),
                "change": m.change.words()
            })).collect::<Vec<_>>()})
        })
        .collect()
}

/// The per-condition pass rates (table rows and chart) and the robustness
/// comparisons, shown when the run had a condition other than `clean`.
fn condition_values(report: &Report) -> (Vec<Value>, String, Vec<Value>) {
    if report
        .condition_names
        .iter()
        .all(|c| c == crate::run_folder::CLEAN)
    {
        return (Vec::new(), String::new(), Vec::new());
    }
    let rows = report
        .conditions
        .iter()
        .map(|c| {
            json!({"variant": c.variant, "condition": c.condition, "conversations": c.tally.conversations,
                "passes": c.tally.passes, "decided": c.tally.decided, "pass_rate_pct": pct(c.tally.pass_rate),
                "ci": match (c.tally.ci_low, c.tally.ci_high) { (Some(a), Some(b)) => format!("{} – {}", pct(Some(a)), pct(Some(b))), _ => "–".into() },
                "errors": c.tally.errors,
                "snr": c.line_snr_db_mean.map(|x| format!("{x:.1} dB")).unwrap_or_else(|| "–".into())})
        })
        .collect();
    let chart = bar_chart(
        &report
            .conditions
            .iter()
            .map(|c| {
                (
                    format!("{} · {}", c.variant, c.condition),
                    c.tally.pass_rate,
                    c.tally.ci_low.zip(c.tally.ci_high),
                )
            })
            .collect::<Vec<_>>(),
    );
    let as_ab: Vec<AbComparison> = report
        .robustness
        .iter()
        .map(|r| AbComparison {
            baseline: format!("{} under {}", r.variant, r.baseline_condition),
            candidate: format!("{} under {}", r.variant, r.condition),
            checks: r.checks.clone(),
            metrics: r.metrics.clone(),
        })
        .collect();
    (rows, chart, comparison_values(&as_ab))
}

/// `compare.html`: the A/B tables on their own, self-contained.
pub fn render_comparisons(all: &[AbComparison]) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("compare.html", include_str!("templates/compare.html"))?;
    env.get_template("compare.html")?
        .render(context! { comparisons => minijinja::Value::from(minijinja::value::Serde(&comparison_values(all))) })
}

/// The variants table rows and their pass-rate chart.
fn variant_values(report: &Report) -> (Vec<Value>, String) {
    let variants: Vec<Value> = report
        .variants
        .iter()
        .map(|v| {
            json!({"variant": v.variant, "conversations": v.tally.conversations, "passes": v.tally.passes, "decided": v.tally.decided,
                "pass_rate_pct": pct(v.tally.pass_rate), "ci": match (v.tally.ci_low, v.tally.ci_high) { (Some(a), Some(b)) => format!("{} – {}", pct(Some(a)), pct(Some(b))), _ => "–".into() },
                "pass_hat_k_pct": pct(v.pass_hat_k), "k": v.k, "errors": v.tally.errors,
                "cost": v.cost_usd.map(|c| format!("${c:.4}")).unwrap_or_else(|| "–".into())})
        })
        .collect();
    let variant_chart = bar_chart(
        &report
            .variants
            .iter()
            .map(|v| {
                (
                    v.variant.clone(),
                    v.tally.pass_rate,
                    v.tally.ci_low.zip(v.tally.ci_high),
                )
            })
            .collect::<Vec<_>>(),
    );
    (variants, variant_chart)
}

/// Pass rate per check per variant, over all scenarios, as a chart.
fn check_chart(report: &Report) -> String {
    let mut per_check: BTreeMap<(String, String), (u32, u32)> = BTreeMap::new();
    for c in &report.checks {
        let e = per_check
            .entry((c.check.clone(), c.variant.clone()))
            .or_default();
        e.0 += c.passes;
        e.1 += c.decided;
    }
    bar_chart(
        &per_check
            .iter()
            .filter(|(_, (_, d))| *d > 0)
            .map(|((check, variant), (p, d))| {
                (
                    format!("{check} · {variant}"),
                    Some(*p as f64 / *d as f64),
                    super::stats::wilson(*p as u64, *d as u64),
                )
            })
            .collect::<Vec<_>>(),
    )
}

/// Each variant's per-call median response times.
fn latency_series(report: &Report) -> BTreeMap<String, Vec<f64>> {
    let mut latency: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for c in &report.conversations {
        if let Some(v) = c.agent_ttfa_p50_ms {
            latency.entry(c.variant.clone()).or_default().push(v);
        }
    }
    latency
}

/// Per scenario and variant: calls, passes and the checks that failed.
fn scenario_values(report: &Report) -> Vec<Value> {
    let mut scenarios: ScenarioRows = BTreeMap::new();
    for c in &report.conversations {
        let e = scenarios
            .entry(c.scenario.clone())
            .or_default()
            .entry(c.variant.clone())
            .or_default();
        e.0 += 1;
        e.1 += u32::from(c.passed == Some(true));
    }
    for r in report
        .results
        .iter()
        .filter(|r| r.status == CheckStatus::Fail)
    {
        if let Some(e) = scenarios
            .get_mut(&r.scenario)
            .and_then(|m| m.get_mut(&r.variant))
            && !e.2.contains(&r.check)
        {
            e.2.push(r.check.clone());
        }
    }
    scenarios
        .into_iter()
        .map(|(name, rows)| {
            json!({"name": name, "rows": rows.into_iter().map(|(variant, (n, p, f))| json!({
                "variant": variant, "count": n, "passed": p, "failing": if f.is_empty() { "–".into() } else { f.join(", ") }})).collect::<Vec<_>>()})
        })
        .collect()
}

/// The conversations shown in full: failed and errored first, then the
/// rest, up to [`MAX_DETAILED`].
fn shown_conversations(report: &Report, run: &RunFolder) -> Vec<Value> {
    let mut order: Vec<&super::tables::ConversationRow> = report.conversations.iter().collect();
    order.sort_by_key(|c| match c.verdict {
        Verdict::Fail => 0,
        Verdict::Error => 1,
        _ => 2,
    });
    let failed_by_call = report.failed_checks();
    order
        .iter()
        .take(MAX_DETAILED)
        .map(|c| {
            let entry = run.manifest.conversations.iter().find(|p| c.is_call(p));
            let dir = entry.map(|p| p.dir.display().to_string()).unwrap_or_default();
            let call_dir = run.dir.join(&dir);
            let transcript: Vec<Utterance> = read_jsonl(&call_dir.join(TRANSCRIPT)).unwrap_or_default();
            let tools: Vec<ToolCallRecord> = read_jsonl(&call_dir.join(TOOLS)).unwrap_or_default();
            let failed: Vec<Value> = failed_by_call
                .get(&c.call_key())
                .into_iter()
                .flatten()
                .map(|r| json!({"check": r.check, "detail": clip(&r.detail)}))
                .collect();
            json!({
                "variant": c.variant, "condition": c.condition, "scenario": c.scenario, "repeat": c.repeat, "verdict": c.verdict,
                "duration": mmss(c.duration_s * 1000.0), "turns": c.turns, "dir": dir,
                "timeline": timeline(&transcript, &tools, &check_marks(&call_dir)),
                "transcript": transcript.iter().map(|u| json!({"at": mmss(u.start_ms), "speaker": u.speaker.as_str(),
                    "text": clip(&u.text), "interrupted": u.interrupted})).collect::<Vec<_>>(),
                "failed": failed,
                "error": entry.and_then(|p| p.error.clone()),
            })
        })
        .collect()
}

pub fn render(report: &Report, run: &RunFolder) -> Result<String, minijinja::Error> {
    let (variants, variant_chart) = variant_values(report);
    let comparisons = comparison_values(&report.comparisons);
    let (conditions, condition_chart, robustness) = condition_values(report);
    let scenarios = scenario_values(report);
    let shown = shown_conversations(report, run);
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("report.html", include_str!("templates/report.html"))?;
    let data = |v: &Vec<Value>| minijinja::Value::from(minijinja::value::Serde(v));
    env.get_template("report.html")?.render(context! {
        run_id => report.run_id.clone(),
        variants => data(&variants),
        comparisons => data(&comparisons),
        conditions => data(&conditions),
        condition_chart => condition_chart,
        robustness => data(&robustness),
        variant_chart => variant_chart,
        check_chart => check_chart(report),
        latency_chart => latency_chart(&latency_series(report)),
        scenarios => data(&scenarios),
        conversations => report.conversations.len(),
        shown => data(&shown),
        truncated => report.conversations.len() > MAX_DETAILED,
        agreement => data(&agreement_values(report)),
    })
}

/// The agreement table rows (empty without labels).
fn agreement_values(report: &Report) -> Vec<Value> {
    let kappa = super::agreement::kappa_text;
    report
        .agreement
        .iter()
        .map(|i| {
            let k = &i.machine_vs_human;
            json!({"item": i.item, "n": k.n, "agreement": format!("{:.0}%", k.agreement * 100.0),
                "kappa": kappa(k), "table": format!("{} / {} / {} / {}", k.table[0][0], k.table[0][1], k.table[1][0], k.table[1][1]),
                "between": i.between_reviewers.as_ref().map(|(a, b, k)| format!("{a} vs {b}: {}", kappa(k))).unwrap_or_else(|| "–".into()),
                "disagreements": i.disagreements.iter().map(|d| json!({"dir": d.conversation, "reviewer": d.reviewer,
                    "human": if d.human_passed { "pass" } else { "fail" }, "note": d.note})).collect::<Vec<_>>()})
        })
        .collect()
}
