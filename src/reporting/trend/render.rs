//! `trend.md`, `trend.html` (small inline-SVG line charts with Wilson
//! bands) and the trend tables (`trend.parquet`, `trend-measures.parquet`).

use std::fmt::Write;
use std::path::Path;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, context};
use polars::prelude::*;
use serde_json::{Value, json};

use super::{MeasureSeries, Point, Series, TEST_NAME, Trend, TrendChange};
use crate::reporting::ReportError;
use crate::reporting::tables::write_both;
use crate::run_folder::write_atomic;

/// Writes the three trend outputs into `out`.
pub fn write_all(trend: &Trend, out: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(out)?;
    write_atomic(&out.join("trend.md"), markdown(trend).as_bytes())?;
    let page = html(trend).map_err(|e| std::io::Error::other(format!("trend.html: {e}")))?;
    write_atomic(&out.join("trend.html"), page.as_bytes())?;
    write_both(&mut pass_rate_frame(trend)?, out, "trend")?;
    write_both(&mut measures_frame(trend)?, out, "trend-measures")?;
    Ok(())
}

fn short(revision: &Option<String>) -> String {
    match revision {
        Some(r) => {
            let dirty = r.ends_with("-dirty");
            let commit: String = r.chars().take(10).collect();
            if dirty { format!("{commit}+") } else { commit }
        }
        None => "–".into(),
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// What the runs were compared on, in a sentence or two.
fn scope_note(trend: &Trend) -> String {
    let mut out = format!(
        "Compared on the {} scenario × condition pairs every run had.",
        trend.shared.len()
    );
    if !trend.left_out.is_empty() {
        let names: Vec<String> = trend
            .left_out
            .iter()
            .map(|((s, c), n)| format!("{s} × {c} ({n} of {} runs)", trend.runs.len()))
            .collect();
        let _ = write!(
            out,
            " Left out, as not every run had them: {}.",
            names.join(", ")
        );
    }
    out
}

fn method_note(trend: &Trend) -> String {
    format!(
        "Each run is compared with the {} runs before it, pooled; {TEST_NAME}, α = {}. A change must also be larger than the practical margin (5 points of pass rate unless the gate file's margins say otherwise).",
        trend.window, trend.alpha
    )
}

pub fn markdown(trend: &Trend) -> String {
    let mut out = String::new();
    let (first, last) = (trend.runs.first(), trend.runs.last());
    let _ = writeln!(
        out,
        "# Trend: {} runs, {} to {}\n",
        trend.runs.len(),
        first.map_or("–", |r| r.started_at.as_str()),
        last.map_or("–", |r| r.started_at.as_str())
    );
    let _ = writeln!(out, "{}\n\n{}\n", scope_note(trend), method_note(trend));
    for s in &trend.skipped {
        let _ = writeln!(out, "- not read: `{}`: {}", s.dir, s.why);
    }
    let _ = writeln!(out, "## What changed, and since when\n");
    let firsts = trend.first_changes();
    if firsts.is_empty() {
        let _ = writeln!(
            out,
            "No significant change beyond its margin in any check.\n"
        );
    } else {
        let _ = writeln!(
            out,
            "| since run | started | git | variant | check | baseline | then | p | change |\n|---|---|---|---|---|---|---|---|---|"
        );
        for (s, p) in firsts {
            let run = &trend.runs[p.run];
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | `{}` | {} ({}/{}) | {} ({}/{}) | {:.2e} | **{}** |",
                run.run_id,
                run.started_at,
                short(&run.git_revision),
                s.variant,
                s.check,
                pct(p.baseline_rate().unwrap_or(0.0)),
                p.baseline_passes,
                p.baseline_decided,
                pct(p.pass_rate),
                p.passes,
                p.decided,
                p.p_value.unwrap_or(1.0),
                p.change.words()
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "## Per run\n\n| run | started | git | variant | pass rate [95% CI] | response p95 (mean of calls) | cost per call |\n|---|---|---|---|---|---|---|"
    );
    for s in trend.series.iter().filter(|s| s.check == "overall") {
        let measures = trend.measures.iter().find(|m| m.variant == s.variant);
        for p in &s.points {
            let run = &trend.runs[p.run];
            let m = measures.and_then(|m| m.points.iter().find(|m| m.run == p.run));
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} [{}, {}] | {} | {} |",
                run.run_id,
                run.started_at,
                short(&run.git_revision),
                s.variant,
                pct(p.pass_rate),
                pct(p.ci_low),
                pct(p.ci_high),
                m.and_then(|m| m.response_p95_ms)
                    .map_or("–".into(), |v| format!("{v:.0} ms")),
                m.map_or("–".into(), |m| format!("${:.4}", m.cost_per_call_usd))
            );
        }
    }
    out
}

/// Chart geometry of the small multiples.
const CHART_W: f64 = 340.0;
const CHART_H: f64 = 90.0;
const PAD: f64 = 6.0;

/// One point of a small chart.
struct ChartPoint {
    run: usize,
    value: f64,
    interval: Option<(f64, f64)>,
    change: TrendChange,
    first: bool,
}

/// A small line chart over the runs on a y range, its ends labelled.
fn line_chart(runs: usize, values: &[ChartPoint], y: (f64, f64), labels: (&str, &str)) -> String {
    let x = |run: usize| PAD + (CHART_W - 2.0 * PAD) * run as f64 / (runs.max(2) - 1) as f64;
    let span = (y.1 - y.0).max(f64::EPSILON);
    let yy = |v: f64| CHART_H - PAD - (CHART_H - 2.0 * PAD) * ((v - y.0) / span).clamp(0.0, 1.0);
    let mut svg =
        format!("<svg class=\"trend\" width=\"{CHART_W}\" height=\"{CHART_H}\" role=\"img\">");
    let band: Vec<(usize, (f64, f64))> = values
        .iter()
        .filter_map(|v| v.interval.map(|ci| (v.run, ci)))
        .collect();
    if !band.is_empty() {
        let upper = band
            .iter()
            .map(|(r, ci)| format!("{:.1},{:.1}", x(*r), yy(ci.1)));
        let lower = band
            .iter()
            .rev()
            .map(|(r, ci)| format!("{:.1},{:.1}", x(*r), yy(ci.0)));
        let _ = write!(
            svg,
            "<polygon points=\"{}\" fill=\"#dbe6f7\"/>",
            upper.chain(lower).collect::<Vec<_>>().join(" ")
        );
    }
    let line: Vec<String> = values
        .iter()
        .map(|v| format!("{:.1},{:.1}", x(v.run), yy(v.value)))
        .collect();
    let _ = write!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#4a7fd4\" stroke-width=\"1.5\"/>",
        line.join(" ")
    );
    for &ChartPoint {
        run,
        value,
        change,
        first,
        ..
    } in values
    {
        let colour = match change {
            TrendChange::Regressed => "#b42318",
            TrendChange::Improved => "#16794a",
            _ => "#4a7fd4",
        };
        let _ = write!(
            svg,
            "<circle class=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{colour}\"><title>run {} · {:.3} · {}</title></circle>",
            if first { "first" } else { "point" },
            x(run),
            yy(value),
            if first { 4.5 } else { 2.5 },
            run + 1,
            value,
            change.words()
        );
    }
    for (text, at) in [(labels.1, PAD + 8.0), (labels.0, CHART_H - PAD)] {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{at:.1}\" font-size=\"9\" text-anchor=\"end\" fill=\"#6b7280\">{}</text>",
            CHART_W - 1.0,
            crate::reporting::junit::escape(text)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn series_value(trend: &Trend, s: &Series) -> Value {
    let values: Vec<_> = s
        .points
        .iter()
        .map(|p| ChartPoint {
            run: p.run,
            value: p.pass_rate,
            interval: Some((p.ci_low, p.ci_high)),
            change: p.change,
            first: p.first,
        })
        .collect();
    let flagged = s.points.iter().any(|p| p.first);
    let last: Option<&Point> = s.points.last();
    json!({
        "variant": s.variant, "check": s.check, "flagged": flagged,
        "chart": line_chart(trend.runs.len(), &values, (0.0, 1.0), ("0%", "100%")),
        "last": last.map(|p| format!("{} [{}, {}]", pct(p.pass_rate), pct(p.ci_low), pct(p.ci_high))).unwrap_or_default(),
        "since": s.points.iter().rfind(|p| p.first).map(|p| trend.runs[p.run].run_id.clone()),
    })
}

fn measure_values(trend: &Trend, m: &MeasureSeries) -> Value {
    let chart = |pick: &dyn Fn(&super::MeasurePoint) -> Option<f64>, unit: &str| {
        let values: Vec<_> = m
            .points
            .iter()
            .filter_map(|p| {
                pick(p).map(|value| ChartPoint {
                    run: p.run,
                    value,
                    interval: None,
                    change: TrendChange::NoBaseline,
                    first: false,
                })
            })
            .collect();
        let high = values.iter().map(|v| v.value).fold(0.0, f64::max) * 1.1;
        let top = if unit == "ms" {
            format!("{high:.0} ms")
        } else {
            format!("${high:.4}")
        };
        line_chart(trend.runs.len(), &values, (0.0, high), ("0", &top))
    };
    json!({
        "variant": m.variant,
        "latency": chart(&|p| p.response_p95_ms, "ms"),
        "cost": chart(&|p| Some(p.cost_per_call_usd), "usd"),
    })
}

pub fn html(trend: &Trend) -> Result<String, minijinja::Error> {
    let mut series: Vec<&Series> = trend.series.iter().collect();
    // Flagged series first, then each variant's overall verdict.
    series.sort_by_key(|s| {
        (
            !s.points.iter().any(|p| p.first),
            s.check != "overall",
            s.variant.clone(),
            s.check.clone(),
        )
    });
    let firsts: Vec<Value> = trend
        .first_changes()
        .into_iter()
        .map(|(s, p)| {
            let run = &trend.runs[p.run];
            json!({"run": run.run_id, "started": run.started_at, "git": short(&run.git_revision),
                "variant": s.variant, "check": s.check,
                "baseline": pct(p.baseline_rate().unwrap_or(0.0)), "now": pct(p.pass_rate),
                "p": format!("{:.2e}", p.p_value.unwrap_or(1.0)), "change": p.change.words(),
                "class": if p.change == TrendChange::Regressed { "fail" } else { "pass" }})
        })
        .collect();
    let runs: Vec<Value> = trend
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"n": i + 1, "run_id": r.run_id, "started": r.started_at, "git": short(&r.git_revision)}))
        .collect();
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("trend.html", include_str!("../templates/trend.html"))?;
    env.get_template("trend.html")?.render(context! {
        title => format!("Trend: {} runs", trend.runs.len()),
        scope => scope_note(trend),
        method => method_note(trend),
        skipped => trend.skipped.iter().map(|s| format!("{}: {}", s.dir, s.why)).collect::<Vec<_>>(),
        firsts => Serde(&firsts),
        runs => Serde(&runs),
        series => Serde(&series.iter().map(|s| series_value(trend, s)).collect::<Vec<_>>()),
        measures => Serde(&trend.measures.iter().map(|m| measure_values(trend, m)).collect::<Vec<_>>()),
    })
}

fn pass_rate_frame(trend: &Trend) -> PolarsResult<DataFrame> {
    let rows: Vec<(&Series, &Point)> = trend
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(move |p| (s, p)))
        .collect();
    let run = |p: &Point| &trend.runs[p.run];
    df!(
        "run_id" => rows.iter().map(|(_, p)| run(p).run_id.as_str()).collect::<Vec<_>>(),
        "started_at" => rows.iter().map(|(_, p)| run(p).started_at.as_str()).collect::<Vec<_>>(),
        "git_revision" => rows.iter().map(|(_, p)| run(p).git_revision.as_deref()).collect::<Vec<_>>(),
        "variant" => rows.iter().map(|(s, _)| s.variant.as_str()).collect::<Vec<_>>(),
        "check" => rows.iter().map(|(s, _)| s.check.as_str()).collect::<Vec<_>>(),
        "decided" => rows.iter().map(|(_, p)| p.decided).collect::<Vec<_>>(),
        "passes" => rows.iter().map(|(_, p)| p.passes).collect::<Vec<_>>(),
        "pass_rate" => rows.iter().map(|(_, p)| p.pass_rate).collect::<Vec<_>>(),
        "ci_low" => rows.iter().map(|(_, p)| p.ci_low).collect::<Vec<_>>(),
        "ci_high" => rows.iter().map(|(_, p)| p.ci_high).collect::<Vec<_>>(),
        "baseline_runs" => rows.iter().map(|(_, p)| p.baseline_runs as u32).collect::<Vec<_>>(),
        "baseline_decided" => rows.iter().map(|(_, p)| p.baseline_decided).collect::<Vec<_>>(),
        "baseline_passes" => rows.iter().map(|(_, p)| p.baseline_passes).collect::<Vec<_>>(),
        "p_value" => rows.iter().map(|(_, p)| p.p_value).collect::<Vec<_>>(),
        "margin" => rows.iter().map(|(_, p)| p.margin).collect::<Vec<_>>(),
        "change" => rows.iter().map(|(_, p)| p.change.words()).collect::<Vec<_>>(),
        "first" => rows.iter().map(|(_, p)| p.first).collect::<Vec<_>>(),
    )
}

fn measures_frame(trend: &Trend) -> PolarsResult<DataFrame> {
    let rows: Vec<(&str, &super::MeasurePoint)> = trend
        .measures
        .iter()
        .flat_map(|m| m.points.iter().map(move |p| (m.variant.as_str(), p)))
        .collect();
    df!(
        "run_id" => rows.iter().map(|(_, p)| trend.runs[p.run].run_id.as_str()).collect::<Vec<_>>(),
        "started_at" => rows.iter().map(|(_, p)| trend.runs[p.run].started_at.as_str()).collect::<Vec<_>>(),
        "variant" => rows.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        "calls" => rows.iter().map(|(_, p)| p.calls as u32).collect::<Vec<_>>(),
        "response_p95_ms_mean" => rows.iter().map(|(_, p)| p.response_p95_ms).collect::<Vec<_>>(),
        "cost_per_call_usd" => rows.iter().map(|(_, p)| p.cost_per_call_usd).collect::<Vec<_>>(),
    )
}
