//! CI gates: rules over a run's report, each passed or failed with the
//! numbers that decided it.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Report;
use super::compare::Change;
use crate::config::{ConfigError, load_yaml_file};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateFile {
    pub rules: Vec<GateRule>,
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
    #[serde(default)]
    pub min_pass_rate: Option<f64>,
    #[serde(default)]
    pub max_p95_latency_ms: Option<f64>,
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// Fail on a statistically significant regression against the baseline.
    #[serde(default)]
    pub no_significant_regression: bool,
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
}

pub fn evaluate(gates: &GateFile, report: &Report) -> Vec<GateResult> {
    let mut out = Vec::new();
    for rule in &gates.rules {
        let variants: Vec<_> = report
            .variants
            .iter()
            .filter(|v| rule.variant.as_ref().is_none_or(|want| &v.variant == want))
            .collect();
        let scope = rule.check.clone().unwrap_or_else(|| "overall".into());
        if let Some(min) = rule.min_pass_rate {
            for v in &variants {
                let (passes, decided) = match &rule.check {
                    None => (v.passes, v.decided),
                    Some(check) => report
                        .checks
                        .iter()
                        .filter(|c| c.variant == v.variant && &c.check == check)
                        .fold((0, 0), |a, c| (a.0 + c.passes, a.1 + c.decided)),
                };
                let rate = (decided > 0).then(|| passes as f64 / decided as f64);
                out.push(GateResult {
                    rule: format!("{}: {scope} pass rate >= {min}", v.variant),
                    passed: rate.is_some_and(|r| r >= min),
                    detail: match rate {
                        Some(r) => format!("{passes}/{decided} = {:.3}", r),
                        None => "nothing decided: a gate cannot pass on skipped checks".into(),
                    },
                });
            }
        }
        if let Some(max) = rule.max_p95_latency_ms {
            for v in &variants {
                let worst = report
                    .conversations
                    .iter()
                    .filter(|c| c.variant == v.variant)
                    .filter_map(|c| c.agent_ttfa_p95_ms)
                    .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
                out.push(GateResult {
                    rule: format!("{}: response p95 <= {max} ms", v.variant),
                    passed: worst.is_some_and(|w| w <= max),
                    detail: worst
                        .map(|w| format!("worst conversation p95 {w:.0} ms"))
                        .unwrap_or_else(|| "no latency measured".into()),
                });
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
                            detail: format!(
                                "{} regressed: {:.0}% → {:.0}%, p = {:.4}",
                                c.check,
                                c.baseline_pass_rate * 100.0,
                                c.candidate_pass_rate * 100.0,
                                c.p_value
                            ),
                        });
                    }
                }
            }
            if !out
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
