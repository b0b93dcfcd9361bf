//! CI gates: rules over a run's report, each passed or failed with the
//! numbers that decided it.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Report;
use super::compare::Change;
use super::margins::{Margin, Margins};
use super::tables::ConversationRow;
use super::trend::Trend;
use crate::config::{ConfigError, load_yaml_file};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateFile {
    pub rules: Vec<GateRule>,
    /// Practical margins per measure, overriding the documented defaults: a
    /// significant change no larger than its margin is not called a
    /// regression (nor an improvement, nor higher or lower). Keys: a
    /// measure or check name, a prefix ending in a dot (`latency.`), or
    /// `pass_rate` for every pass rate. Values: a number in the measure's
    /// unit (`0.5` LU, `100` ms, `0.05` = 5 points of pass rate) or a share
    /// of the baseline (`"5%"`).
    #[serde(default)]
    pub margins: std::collections::BTreeMap<String, Margin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateRule {
    /// Applies to one check (e.g. `function_call.match`); overall verdicts when absent.
    #[serde(default)]
    pub check: Option<String>,
    /// Only these variants (all when absent).
    #[serde(default)]
    pub variant: Option<String>,
    /// Only the calls under this acoustic condition (all when absent). With
    /// `no_significant_regression`, the rule is that the variant does not do
    /// significantly worse under it than under the run's first condition.
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub min_pass_rate: Option<f64>,
    #[serde(default)]
    pub max_p95_latency_ms: Option<f64>,
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// Fail on a statistically significant regression against the baseline.
    #[serde(default)]
    pub no_significant_regression: bool,
    /// Fail when a check's pass rate (or the overall one) in this run has
    /// fallen significantly, and beyond its margin, against the runs before
    /// it in the same folder (`rehearse trend`'s rolling baseline).
    #[serde(default)]
    pub no_trend_regression: bool,
    /// The check's (or, without `check`, the overall verdict's) agreement
    /// with human reviewers must reach this Cohen's kappa for its verdicts to
    /// count: fails without labels (`rehearse review`) or below it.
    #[serde(default)]
    pub min_kappa: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    pub rule: String,
    pub passed: bool,
    pub detail: String,
}

impl GateFile {
    pub fn load(path: &Path) -> Result<GateFile, ConfigError> {
        load_yaml_file(path)
    }

    /// The margins the A/B verdicts use under this gate file.
    pub fn margins(&self) -> Margins {
        Margins::new(self.margins.clone())
    }
}

/// Every rule of `gates` on `report`; `trend` is the history of runs the
/// report's run sits among, for `no_trend_regression` rules.
pub fn evaluate(
    gates: &GateFile,
    report: &Report,
    trend: Option<Result<&Trend, &String>>,
) -> Vec<GateResult> {
    let mut out = Vec::new();
    for rule in gates.rules.iter().filter(|r| r.no_trend_regression) {
        out.push(trend_gate(rule, &report.run_id, trend));
    }
    for rule in &gates.rules {
        if let Some(min) = rule.min_kappa {
            out.push(kappa_gate(rule.check.as_deref(), min, report));
        }
    }
    for rule in &gates.rules {
        let rule_start = out.len();
        if let Some(condition) = &rule.condition {
            out.extend(evaluate_condition(rule, condition, report));
            continue;
        }
        let variants: Vec<_> = report
            .variants
            .iter()
            .filter(|v| rule.variant.as_ref().is_none_or(|want| &v.variant == want))
            .collect();
        let scope = rule.check.clone().unwrap_or_else(|| "overall".into());
        if let Some(min) = rule.min_pass_rate {
            for v in &variants {
                let (passes, decided) = match &rule.check {
                    None => (v.tally.passes, v.tally.decided),
                    Some(check) => report
                        .checks
                        .iter()
                        .filter(|c| c.variant == v.variant && &c.check == check)
                        .fold((0, 0), |a, c| (a.0 + c.passes, a.1 + c.decided)),
                };
                let rule = format!("{}: {scope} pass rate >= {min}", v.variant);
                out.push(pass_rate_gate(rule, passes as usize, decided as usize, min));
            }
        }
        if let Some(max) = rule.max_p95_latency_ms {
            for v in &variants {
                let calls = report
                    .conversations
                    .iter()
                    .filter(|c| c.variant == v.variant);
                let rule = format!("{}: response p95 <= {max} ms", v.variant);
                out.push(latency_gate(rule, calls, max));
            }
        }
        if let Some(max) = rule.max_cost_usd {
            let total: f64 = variants.iter().filter_map(|v| v.cost_usd).sum();
            out.push(GateResult {
                rule: format!("cost <= ${max}"),
                passed: total <= max,
                detail: format!("${total:.4}"),
            });
        }
        if rule.no_significant_regression {
            for ab in &report.comparisons {
                let (base, cand) = (&ab.baseline, &ab.candidate);
                for c in ab
                    .checks
                    .iter()
                    .filter(|c| rule.check.as_ref().is_none_or(|want| &c.check == want))
                {
                    if c.change == Change::Regressed {
                        out.push(GateResult {
                            rule: format!("{cand} vs {base}: no significant regression"),
                            passed: false,
                            detail: regression_detail(c),
                        });
                    }
                }
            }
            if !out[rule_start..]
                .iter()
                .any(|g| g.rule.contains("no significant regression"))
            {
                out.push(GateResult {
                    rule: "no significant regression".into(),
                    passed: !report.comparisons.is_empty(),
                    detail: if report.comparisons.is_empty() {
                        "no baseline to compare with: give two variants or --baseline".into()
                    } else {
                        "none found".into()
                    },
                });
            }
        }
    }
    out
}

/// A rule scoped to one condition: pass rates and latency over that
/// condition's calls, and no significant regression against the first
/// condition.
fn evaluate_condition(rule: &GateRule, condition: &str, report: &Report) -> Vec<GateResult> {
    let mut out = Vec::new();
    if !report.condition_names.iter().any(|c| c == condition) {
        out.push(GateResult {
            rule: format!("condition {condition}"),
            passed: false,
            detail: format!(
                "the run has no condition {condition} (it ran: {})",
                report.condition_names.join(", ")
            ),
        });
        return out;
    }
    let variants: Vec<&str> = report
        .variants
        .iter()
        .map(|v| v.variant.as_str())
        .filter(|v| rule.variant.as_deref().is_none_or(|want| want == *v))
        .collect();
    let scope = rule.check.clone().unwrap_or_else(|| "overall".into());
    for variant in &variants {
        let calls = report
            .conversations
            .iter()
            .filter(|c| c.variant == *variant && c.condition == condition);
        if let Some(min) = rule.min_pass_rate {
            let outcomes: Vec<Option<bool>> = match &rule.check {
                None => calls.clone().map(|c| c.passed).collect(),
                Some(check) => report
                    .results
                    .iter()
                    .filter(|r| r.variant == *variant && r.condition == condition)
                    .filter(|r| &r.check == check)
                    .map(|r| r.passed)
                    .collect(),
            };
            let decided = outcomes.iter().flatten().count();
            let passes = outcomes.iter().flatten().filter(|p| **p).count();
            let rule = format!("{variant} @{condition}: {scope} pass rate >= {min}");
            out.push(pass_rate_gate(rule, passes, decided, min));
        }
        if let Some(max) = rule.max_p95_latency_ms {
            let rule = format!("{variant} @{condition}: response p95 <= {max} ms");
            out.push(latency_gate(rule, calls, max));
        }
        if rule.no_significant_regression {
            out.push(robustness_gate(rule, variant, condition, report));
        }
    }
    if rule.max_cost_usd.is_some() {
        out.push(GateResult {
            rule: format!("cost @{condition}"),
            passed: false,
            detail: "max_cost_usd applies to the whole run: give it in a rule without `condition`"
                .into(),
        });
    }
    out
}

/// No significant regression of `variant` under `condition` against the
/// run's first condition.
fn robustness_gate(rule: &GateRule, variant: &str, condition: &str, report: &Report) -> GateResult {
    let name = format!("{variant} @{condition}: no significant regression");
    let Some(r) = report
        .robustness
        .iter()
        .find(|r| r.variant == variant && r.condition == condition)
    else {
        return GateResult {
            rule: name,
            passed: false,
            detail: "nothing to compare with: the condition is the run's first (its baseline)"
                .into(),
        };
    };
    let regressed: Vec<String> = r
        .checks
        .iter()
        .filter(|c| rule.check.as_ref().is_none_or(|want| &c.check == want))
        .filter(|c| c.change == Change::Regressed)
        .map(regression_detail)
        .collect();
    GateResult {
        rule: format!("{name} against {}", r.baseline_condition),
        passed: regressed.is_empty(),
        detail: if regressed.is_empty() {
            "none found".into()
        } else {
            regressed.join("; ")
        },
    }
}

impl GateFile {
    /// Whether any rule needs the history of runs.
    pub fn needs_trend(&self) -> bool {
        self.rules.iter().any(|r| r.no_trend_regression)
    }
}

/// A `no_trend_regression` rule on run `run_id` of `trend` (or why there
/// is no trend).
pub fn trend_gate(
    rule: &GateRule,
    run_id: &str,
    trend: Option<Result<&Trend, &String>>,
) -> GateResult {
    let name = match &rule.check {
        Some(check) => format!("no trend regression of {check}"),
        None => "no trend regression".to_string(),
    };
    let trend = match trend {
        Some(Ok(t)) => t,
        Some(Err(why)) => {
            return GateResult {
                rule: name,
                passed: false,
                detail: format!("the history of runs could not be read: {why}"),
            };
        }
        None => {
            return GateResult {
                rule: name,
                passed: false,
                detail: "no history of runs to compare with".into(),
            };
        }
    };
    let Some(run) = trend.runs.iter().position(|r| r.run_id == run_id) else {
        return GateResult {
            rule: name,
            passed: false,
            detail: format!("run {run_id} is not among the runs read"),
        };
    };
    // A first run has no baseline, and passes; a later one that shares no
    // scenario with the runs before it cannot be judged, and does not.
    let compared = trend
        .series
        .iter()
        .flat_map(|s| &s.points)
        .any(|p| p.run == run && p.p_value.is_some());
    if run > 0 && !compared {
        return GateResult {
            rule: name,
            passed: false,
            detail: "nothing to compare: the run shares no scenario and condition with every run before it (trend.md lists what was left out)".into(),
        };
    }
    let regressed: Vec<String> = trend
        .regressions_at(run_id)
        .into_iter()
        .filter(|(s, _)| rule.check.as_ref().is_none_or(|c| c == &s.check))
        .filter(|(s, _)| rule.variant.as_ref().is_none_or(|v| v == &s.variant))
        .map(|(s, p)| {
            format!(
                "{} {}: {:.0}% against {:.0}% over the previous {} runs, p = {:.2e}",
                s.variant,
                s.check,
                p.pass_rate * 100.0,
                p.baseline_rate().unwrap_or(0.0) * 100.0,
                p.baseline_runs,
                p.p_value.unwrap_or(1.0)
            )
        })
        .collect();
    GateResult {
        rule: name,
        passed: regressed.is_empty(),
        detail: if regressed.is_empty() {
            format!("none against the previous {} runs", trend.window)
        } else {
            regressed.join("; ")
        },
    }
}

/// A check's agreement with reviewers against a minimum kappa.
fn kappa_gate(check: Option<&str>, min: f64, report: &Report) -> GateResult {
    let item = check.unwrap_or(crate::run_folder::OVERALL);
    let rule = format!("{item}: agreement with reviewers κ >= {min}");
    let Some(found) = report.agreement.iter().find(|a| a.item == item) else {
        return GateResult {
            rule,
            passed: false,
            detail: "no reviewer labelled it: label calls with `rehearse review`".into(),
        };
    };
    let k = &found.machine_vs_human;
    match k.kappa {
        Some(kappa) => GateResult {
            rule,
            passed: kappa >= min,
            detail: format!(
                "κ = {kappa:.2} over {} labelled calls ({:.0}% agreement)",
                k.n,
                k.agreement * 100.0
            ),
        },
        None => GateResult {
            rule,
            passed: false,
            detail: format!(
                "κ undefined: every one of {} labels and verdicts was the same",
                k.n
            ),
        },
    }
}

/// What a regressed check did, with the margin it exceeded.
fn regression_detail(c: &super::compare::Comparison) -> String {
    format!(
        "{} regressed: {:.0}% → {:.0}%, p = {:.4}, beyond the {:.0}-point margin",
        c.check,
        c.baseline_pass_rate * 100.0,
        c.candidate_pass_rate * 100.0,
        c.p_value,
        c.margin * 100.0
    )
}

/// A pass-rate rule over `passes` of `decided`: nothing decided never passes.
fn pass_rate_gate(rule: String, passes: usize, decided: usize, min: f64) -> GateResult {
    let rate = (decided > 0).then(|| passes as f64 / decided as f64);
    GateResult {
        rule,
        passed: rate.is_some_and(|r| r >= min),
        detail: match rate {
            Some(r) => format!("{passes}/{decided} = {r:.3}"),
            None => "nothing decided: a gate cannot pass on skipped checks".into(),
        },
    }
}

/// A latency rule: the worst conversation's response p95 against `max`.
fn latency_gate<'a>(
    rule: String,
    calls: impl Iterator<Item = &'a ConversationRow>,
    max: f64,
) -> GateResult {
    let worst = calls
        .filter_map(|c| c.agent_ttfa_p95_ms)
        .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
    GateResult {
        rule,
        passed: worst.is_some_and(|w| w <= max),
        detail: worst
            .map(|w| format!("worst conversation p95 {w:.0} ms"))
            .unwrap_or_else(|| "no latency measured".into()),
    }
}
