//! Forest plots of an A/B comparison, as inline SVG: each check's and each
//! measure's difference with its 95% interval, the practical margin shaded,
//! and flagged rows coloured. A chart of 40 intervals reads faster than 40
//! table rows.

use std::fmt::Write;

use super::compare::{AbComparison, Change, MetricChange};
use super::junit::escape;

/// How a row is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Worse,
    Better,
    /// Significant but within the margin, or a measure that moved either
    /// way (higher latency is worse, higher pitch is neither).
    Moved,
    Unflagged,
}

impl Flag {
    fn colour(self) -> &'static str {
        match self {
            Flag::Worse => "#b42318",
            Flag::Better => "#16794a",
            Flag::Moved => "#b7791f",
            Flag::Unflagged => "#6b7280",
        }
    }
}

/// One row: a difference and its interval in the plot's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestRow {
    pub label: String,
    /// The difference, its interval and the text shown at the right.
    pub diff: f64,
    pub low: f64,
    pub high: f64,
    pub value_text: String,
    pub flag: Flag,
}

const WIDTH: f64 = 1000.0;
const LABEL_W: f64 = 290.0;
const VALUE_W: f64 = 330.0;
const ROW_H: f64 = 20.0;
const AXIS_H: f64 = 30.0;
/// Measures plotted in margins are clipped here (the table has the value).
const MAX_MARGINS: f64 = 10.0;

/// A forest plot of `rows` on a symmetric axis, with `[-band, band]`
/// shaded; `unit` names the axis.
pub fn svg(rows: &[ForestRow], band: f64, unit: &str) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let reach = rows
        .iter()
        .flat_map(|r| [r.low.abs(), r.high.abs(), r.diff.abs()])
        .fold(band * 1.5, f64::max)
        .max(f64::EPSILON);
    let plot_w = WIDTH - LABEL_W - VALUE_W;
    let x = |v: f64| LABEL_W + plot_w * (0.5 + v.clamp(-reach, reach) / (2.0 * reach));
    let height = ROW_H * rows.len() as f64 + AXIS_H;
    let body = ROW_H * rows.len() as f64;
    let mut out = format!(
        "<svg class=\"forest\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"forest plot, {}\">",
        escape(unit)
    );
    let _ = write!(
        out,
        "<rect x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{body:.0}\" fill=\"#eef1f5\"><title>practical margin ±{band}</title></rect>",
        x(-band),
        (x(band) - x(-band)).max(0.0)
    );
    let _ = write!(
        out,
        "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{body:.0}\" stroke=\"#9aa3b2\"/>",
        x(0.0)
    );
    for (i, r) in rows.iter().enumerate() {
        let y = i as f64 * ROW_H + ROW_H / 2.0;
        let colour = r.flag.colour();
        let _ = write!(
            out,
            "<g class=\"row\" data-flag=\"{:?}\"><text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>\
             <circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"{colour}\">{}</text></g>",
            r.flag,
            y + 4.0,
            escape(&r.label),
            x(r.low),
            x(r.high),
            x(r.diff),
            WIDTH - VALUE_W + 8.0,
            y + 4.0,
            escape(&r.value_text)
        );
    }
    // The band's edges are in the axis caption: ticks there crowd zero.
    for tick in [-reach, 0.0, reach] {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#6b7280\">{}</text>",
            x(tick),
            body + 14.0,
            tick_text(tick)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#6b7280\">{}</text></svg>",
        x(0.0),
        body + 27.0,
        escape(unit)
    );
    out
}

fn tick_text(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded == 0.0 {
        "0".into()
    } else {
        format!("{rounded:+}")
    }
}

/// The pass-rate differences of every check, in points, against the
/// overall (widest) margin.
pub fn pass_rates(ab: &AbComparison) -> String {
    let rows: Vec<ForestRow> = ab
        .checks
        .iter()
        .map(|c| ForestRow {
            label: c.check.clone(),
            diff: c.difference * 100.0,
            low: c.ci_low * 100.0,
            high: c.ci_high * 100.0,
            value_text: format!("{:+.0} pts, {}", c.difference * 100.0, c.change.words()),
            flag: match c.change {
                Change::Regressed => Flag::Worse,
                Change::Improved => Flag::Better,
                Change::WithinMargin => Flag::Moved,
                Change::NoSignificantChange | Change::NotEnoughData => Flag::Unflagged,
            },
        })
        .collect();
    let band = ab.checks.first().map(|c| c.margin * 100.0).unwrap_or(5.0);
    svg(
        &rows,
        band,
        "candidate − baseline, percentage points (margin shaded)",
    )
}

/// The measures' differences in units of their own margins, so measures
/// of every unit share one axis with the margin at ±1.
pub fn measures(ab: &AbComparison) -> String {
    let rows: Vec<ForestRow> = ab
        .metrics
        .iter()
        .filter(|m| m.margin > 0.0)
        .map(|m| {
            let scale = |v: f64| (v / m.margin).clamp(-MAX_MARGINS, MAX_MARGINS);
            ForestRow {
                label: m.metric.clone(),
                diff: scale(m.difference),
                low: scale(m.ci_low),
                high: scale(m.ci_high),
                value_text: format!(
                    "{:+.2} ({}), {}",
                    m.difference,
                    super::compare::margin_text(m.margin),
                    m.change.words()
                ),
                flag: match m.change {
                    MetricChange::Higher | MetricChange::Lower => Flag::Moved,
                    MetricChange::WithinMargin
                    | MetricChange::NoSignificantChange
                    | MetricChange::NotEnoughData => Flag::Unflagged,
                },
            }
        })
        .collect();
    svg(&rows, 1.0, "candidate − baseline, in margins (±1 shaded)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(diff: f64, flag: Flag) -> ForestRow {
        ForestRow {
            label: "latency.<p95>".into(),
            diff,
            low: diff - 1.0,
            high: diff + 1.0,
            value_text: "x".into(),
            flag,
        }
    }

    #[test]
    fn rows_sit_left_or_right_of_zero_and_carry_their_flag() {
        let svg = svg(
            &[row(-3.0, Flag::Worse), row(3.0, Flag::Better)],
            1.0,
            "pts",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("latency.&lt;p95&gt;"), "labels are escaped");
        let centres: Vec<f64> = svg
            .split("<circle cx=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().parse().unwrap())
            .collect();
        let zero = LABEL_W + (WIDTH - LABEL_W - VALUE_W) / 2.0;
        assert!(centres[0] < zero && centres[1] > zero, "{centres:?}");
        assert!(svg.contains("data-flag=\"Worse\"") && svg.contains("#b42318"));
        assert_eq!(super::svg(&[], 1.0, "pts"), "");
    }
}
