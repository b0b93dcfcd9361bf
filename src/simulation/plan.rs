//! The plan of a run: which agents, scenarios and repeats, in a seeded order
//! every machine agrees on, and its estimated size and cost for `--dry-run`.

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use super::run::{RunError, RunOptions};
use super::targets::load_agent;
use crate::config::agent::ProviderKind;
use crate::config::load::did_you_mean;
use crate::config::project::Project;
use crate::config::scenario::ScenarioFile;
use crate::run_folder::{CLEAN, CONVERSATIONS, PlannedConversation};

/// An agent to test: a file, optionally one of its variants.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRef {
    pub path: PathBuf,
    pub variant: Option<String>,
}

impl AgentRef {
    /// `agents/x.yaml` or `agents/x.yaml:variant`.
    pub fn parse(s: &str) -> AgentRef {
        match s.rsplit_once(':') {
            Some((path, variant)) if path.ends_with(".yaml") || path.ends_with(".yml") => {
                AgentRef {
                    path: PathBuf::from(path),
                    variant: Some(variant.to_string()),
                }
            }
            _ => AgentRef {
                path: PathBuf::from(s),
                variant: None,
            },
        }
    }
}

/// `*` and `?` wildcards, whole-string match.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

fn conversation_seed(seed: u64, scenario: &str, repeat: u32) -> u64 {
    let digest = Sha256::digest(format!("{seed}/{scenario}/{repeat}").as_bytes());
    u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
}

/// Folder-safe form of a variant name (`support:v2` → `support~v2`).
fn dir_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '~'
            }
        })
        .collect()
}

/// Selects scenarios by id/file-stem globs and tags (all when none given).
/// A selection that matches nothing is a mistake in the command: it names
/// what exists and the closest match.
pub(super) fn select<'a>(
    project: &'a Project,
    globs: &[String],
    tags: &[String],
) -> Result<Vec<&'a ScenarioFile>, RunError> {
    let stem = |path: &std::path::Path| {
        path.file_stem()
            .and_then(|x| x.to_str())
            .unwrap_or("")
            .to_string()
    };
    let by_glob = |g: &str, path: &std::path::Path, s: &ScenarioFile| {
        glob_match(g, &s.id) || glob_match(g, &stem(path))
    };
    let ids: Vec<&str> = project
        .scenarios
        .iter()
        .map(|(_, s)| s.id.as_str())
        .collect();
    if let Some(unmatched) = globs
        .iter()
        .find(|g| !project.scenarios.iter().any(|(p, s)| by_glob(g, p, s)))
    {
        return Err(RunError::Selection(format!(
            "--scenario {unmatched} matches no scenario{}; the project has: {}",
            suggestion(unmatched, &ids),
            ids.join(", ")
        )));
    }
    let known_tags: std::collections::BTreeSet<&str> = project
        .scenarios
        .iter()
        .flat_map(|(_, s)| s.tags.iter().map(String::as_str))
        .collect();
    if let Some(unknown) = tags.iter().find(|t| !known_tags.contains(t.as_str())) {
        let known: Vec<&str> = known_tags.iter().copied().collect();
        return Err(RunError::Selection(format!(
            "--tag {unknown} is on no scenario{}; the tags in use are: {}",
            suggestion(unknown, &known),
            known.join(", ")
        )));
    }
    let selected: Vec<&ScenarioFile> = project
        .scenarios
        .iter()
        .filter(|(path, s)| {
            let glob_ok = globs.is_empty() || globs.iter().any(|g| by_glob(g, path, s));
            let tag_ok = tags.is_empty() || tags.iter().any(|t| s.tags.contains(t));
            // An opt-in scenario must be named (not caught by a pattern)
            // or carry a tag asked for.
            let named = globs.iter().any(|g| *g == s.id || *g == stem(path));
            let asked_for = named || (!tags.is_empty() && tag_ok);
            glob_ok && tag_ok && (asked_for || !s.opt_in)
        })
        .map(|(_, s)| s)
        .collect();
    if selected.is_empty() {
        return Err(RunError::Selection(if project.scenarios.is_empty() {
            format!(
                "no scenarios in {}; add one (`rehearse init` scaffolds a project)",
                project.root.join("scenarios").display()
            )
        } else {
            "no scenario matches both the --scenario and the --tag selection".to_string()
        }));
    }
    Ok(selected)
}

/// The conditions `--condition` names, in order (`clean` when none is
/// given). An unknown or repeated name is a mistake in the command.
pub(super) fn conditions(project: &Project, names: &[String]) -> Result<Vec<String>, RunError> {
    if names.is_empty() {
        return Ok(vec![CLEAN.to_string()]);
    }
    let known = project.condition_names();
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if project.condition(name).is_none() {
            return Err(RunError::Selection(format!(
                "--condition {name} is neither built in nor in conditions/{}; the conditions are: {}",
                suggestion(name, &known),
                known.join(", ")
            )));
        }
        if out.contains(name) {
            return Err(RunError::Selection(format!(
                "--condition {name} is given twice"
            )));
        }
        out.push(name.clone());
    }
    Ok(out)
}

/// ` (did you mean X?)` for the candidate `got` most likely meant.
pub(super) fn suggestion(got: &str, candidates: &[&str]) -> String {
    did_you_mean(got, candidates.iter().copied())
        .map(|c| format!(" (did you mean {c}?)"))
        .unwrap_or_default()
}

/// A call's folder: `conversations/<variant>/<scenario>/<repeat>`, the
/// variant level `<variant>@<condition>` under a condition other than
/// `clean` (so runs without conditions keep their layout, and `@` never
/// appears in a folder-safe name).
fn conversation_dir(variant: &str, condition: &str, scenario: &str, repeat: u32) -> PathBuf {
    let level = if condition == CLEAN {
        dir_name(variant)
    } else {
        format!("{}@{}", dir_name(variant), dir_name(condition))
    };
    PathBuf::from(CONVERSATIONS)
        .join(level)
        .join(dir_name(scenario))
        .join(repeat.to_string())
}

/// Every conversation of a run (variants × conditions × scenarios ×
/// repeats), in its reproducible shuffled order; shards split the
/// canonical (unshuffled) order, so every machine agrees.
pub(super) fn plan_conversations(
    variants: &[String],
    conditions: &[String],
    scenarios: &[&ScenarioFile],
    opts: &RunOptions,
) -> Result<Vec<PlannedConversation>, RunError> {
    let mut plan = Vec::new();
    for variant in variants {
        for condition in conditions {
            for scenario in scenarios {
                for repeat in 0..opts.repeat.max(1) {
                    plan.push(PlannedConversation {
                        variant: variant.clone(),
                        scenario: scenario.id.clone(),
                        persona: scenario.persona.clone(),
                        repeat,
                        condition: condition.clone(),
                        seed: conversation_seed(opts.seed, &scenario.id, repeat),
                        dir: conversation_dir(variant, condition, &scenario.id, repeat),
                        status: None,
                        error: None,
                        end_reason: None,
                        verdict: None,
                        not_started: None,
                        attempts: None,
                    });
                }
            }
        }
    }
    if let Some((i, n)) = opts.shard {
        if n == 0 || i == 0 || i > n {
            return Err(RunError::Selection(format!(
                "--shard {i}/{n}: use i/n with 1 <= i <= n"
            )));
        }
        plan = plan
            .into_iter()
            .enumerate()
            .filter(|(k, _)| (*k as u32) % n == i - 1)
            .map(|(_, p)| p)
            .collect();
    }
    plan.shuffle(&mut StdRng::seed_from_u64(opts.seed));
    Ok(plan)
}

/// Environment variable with the number of shards, for `--shard auto`.
pub const SHARD_COUNT_VAR: &str = "REHEARSE_SHARD_COUNT";
/// Environment variable with this machine's shard, 1-based (a CI matrix).
pub const SHARD_INDEX_VAR: &str = "REHEARSE_SHARD_INDEX";
/// What a Kubernetes Indexed Job sets in each pod: the 0-based index.
pub const K8S_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// `--shard auto`: this machine's shard `(i, n)` (1-based) from the
/// environment a distributed engine sets. The count comes from
/// [`SHARD_COUNT_VAR`]; the index from a Kubernetes Indexed Job's
/// [`K8S_INDEX_VAR`] (0-based) or from [`SHARD_INDEX_VAR`] (1-based), and
/// when both are set they must agree. Anything missing or inconsistent is
/// refused: a shard that silently ran the wrong slice would leave a hole in
/// the nightly report.
pub fn shard_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<(u32, u32), String> {
    let number = |var: &str| -> Result<Option<u32>, String> {
        match env(var) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("--shard auto: {var}={v:?} is not a whole number")),
        }
    };
    let count = number(SHARD_COUNT_VAR)?.ok_or_else(|| {
        format!(
            "--shard auto: {SHARD_COUNT_VAR} is not set; set it to the number of shards (in a Kubernetes Indexed Job, the Job's completions)"
        )
    })?;
    if count == 0 {
        return Err(format!(
            "--shard auto: {SHARD_COUNT_VAR} is 0; it must be at least 1"
        ));
    }
    let k8s = match number(K8S_INDEX_VAR)? {
        Some(i) => Some(
            i.checked_add(1)
                .ok_or_else(|| format!("--shard auto: {K8S_INDEX_VAR}={i} is out of range"))?,
        ),
        None => None,
    };
    let explicit = number(SHARD_INDEX_VAR)?;
    let index = match (k8s, explicit) {
        (Some(a), Some(b)) if a != b => {
            return Err(format!(
                "--shard auto: {K8S_INDEX_VAR} says shard {a} (it counts from 0) but {SHARD_INDEX_VAR} says {b}; set one of them"
            ));
        }
        (Some(i), _) | (None, Some(i)) => i,
        (None, None) => {
            return Err(format!(
                "--shard auto: neither {K8S_INDEX_VAR} (set by a Kubernetes Indexed Job) nor {SHARD_INDEX_VAR} (1-based, for a CI matrix) is set"
            ));
        }
    };
    if index == 0 || index > count {
        return Err(format!(
            "--shard auto: shard {index} of {count} is out of range (shards count from 1 to {SHARD_COUNT_VAR})"
        ));
    }
    Ok((index, count))
}

/// Minutes of call assumed per conversation for `--dry-run` estimates (the
/// sample suite's calls average a little over a minute).
pub const ESTIMATED_CALL_MINUTES: f64 = 1.5;

/// What `--dry-run` prints: the plan and its estimated size and cost,
/// computed without connecting to anything.
pub struct PlanSummary {
    pub conversations: usize,
    /// The conditions every call runs under, in order.
    pub conditions: Vec<String>,
    pub per_variant: Vec<VariantPlan>,
}

/// One variant's share of a plan.
pub struct VariantPlan {
    pub variant: String,
    pub conversations: usize,
    /// The model its calls run on (or, on the emulator, are priced as).
    pub model: String,
    /// On the local emulator: nothing is charged.
    pub emulator: bool,
    /// Estimated cost at the model's prices (None: no published price).
    pub estimated_usd: Option<f64>,
}

impl std::fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "plan: {} conversations, about {:.0} minutes of call audio",
            self.conversations,
            self.conversations as f64 * ESTIMATED_CALL_MINUTES
        )?;
        if self.conditions.len() > 1 || self.conditions.iter().any(|c| c != CLEAN) {
            writeln!(
                f,
                "  under {} condition(s): {} (the first is the baseline)",
                self.conditions.len(),
                self.conditions.join(", ")
            )?;
        }
        for v in &self.per_variant {
            let cost = match v.estimated_usd {
                Some(usd) => format!("${usd:.2}"),
                None => "unknown (no published price for this model)".to_string(),
            };
            let (variant, n, model) = (&v.variant, v.conversations, &v.model);
            if v.emulator {
                writeln!(
                    f,
                    "  {variant}: {n} conversations on the local emulator (free; priced as {model} for reports and --max-cost: {cost})"
                )?;
            } else {
                writeln!(
                    f,
                    "  {variant}: {n} conversations on {model}, estimated {cost}"
                )?;
            }
        }
        writeln!(
            f,
            "(estimates assume {ESTIMATED_CALL_MINUTES} min per call; see docs/reports.md for the cost model)"
        )
    }
}

/// The plan of a run, without running it.
pub fn plan(opts: &RunOptions) -> Result<PlanSummary, RunError> {
    let project = Project::load(&opts.root).map_err(RunError::Config)?;
    let scenarios = select(&project, &opts.scenarios, &opts.tags)?;
    let mut files = Vec::new();
    for r in &opts.agent_refs() {
        files.push(load_agent(&opts.root, r)?.1);
    }
    let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    let conditions = conditions(&project, &opts.conditions)?;
    let plan = plan_conversations(&names, &conditions, &scenarios, opts)?;
    let per_variant = files
        .iter()
        .map(|f| {
            let n = plan.iter().filter(|p| p.variant == f.name).count();
            let model = f.model_name();
            VariantPlan {
                variant: f.name.clone(),
                conversations: n,
                model: model.to_string(),
                emulator: f.provider == ProviderKind::Emulator,
                estimated_usd: crate::pricing::per_call_minute(model)
                    .map(|per_min| n as f64 * ESTIMATED_CALL_MINUTES * per_min),
            }
        })
        .collect();
    Ok(PlanSummary {
        conversations: plan.len(),
        conditions,
        per_variant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_agent_refs() {
        assert!(glob_match("angry-*", "angry-caller"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("angry-*", "happy-path"));
        assert_eq!(
            AgentRef::parse("agents/a.yaml:v2").variant.as_deref(),
            Some("v2")
        );
        assert_eq!(AgentRef::parse("agents/a.yaml").variant, None);
    }

    #[test]
    fn shards_come_from_a_kubernetes_index_or_a_ci_matrix_and_nothing_else() {
        let from = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            shard_from_env(&move |k: &str| {
                vars.iter()
                    .find(|(name, _)| name == k)
                    .map(|(_, v)| v.clone())
            })
        };
        assert_eq!(
            from(&[("JOB_COMPLETION_INDEX", "0"), ("REHEARSE_SHARD_COUNT", "4")]),
            Ok((1, 4))
        );
        assert_eq!(
            from(&[("JOB_COMPLETION_INDEX", "3"), ("REHEARSE_SHARD_COUNT", "4")]),
            Ok((4, 4))
        );
        assert_eq!(
            from(&[("REHEARSE_SHARD_INDEX", "2"), ("REHEARSE_SHARD_COUNT", "3")]),
            Ok((2, 3))
        );
        assert_eq!(
            from(&[
                ("JOB_COMPLETION_INDEX", "1"),
                ("REHEARSE_SHARD_INDEX", "2"),
                ("REHEARSE_SHARD_COUNT", "3")
            ]),
            Ok((2, 3)),
            "both set and agreeing"
        );
        let err = |vars: &[(&str, &str)]| from(vars).unwrap_err();
        assert!(err(&[("JOB_COMPLETION_INDEX", "0")]).contains("REHEARSE_SHARD_COUNT is not set"));
        assert!(err(&[("REHEARSE_SHARD_COUNT", "4")]).contains("neither JOB_COMPLETION_INDEX"));
        assert!(
            err(&[("JOB_COMPLETION_INDEX", "4"), ("REHEARSE_SHARD_COUNT", "4")])
                .contains("out of range")
        );
        assert!(
            err(&[("REHEARSE_SHARD_INDEX", "0"), ("REHEARSE_SHARD_COUNT", "4")])
                .contains("out of range")
        );
        assert!(
            err(&[
                ("REHEARSE_SHARD_INDEX", "two"),
                ("REHEARSE_SHARD_COUNT", "4")
            ])
            .contains("not a whole number")
        );
        assert!(
            err(&[("REHEARSE_SHARD_INDEX", "1"), ("REHEARSE_SHARD_COUNT", "0")])
                .contains("at least 1")
        );
        assert!(
            err(&[
                ("JOB_COMPLETION_INDEX", "0"),
                ("REHEARSE_SHARD_INDEX", "2"),
                ("REHEARSE_SHARD_COUNT", "4")
            ])
            .contains("set one of them")
        );
    }

    #[test]
    fn pairs_share_seeds_across_variants() {
        assert_eq!(conversation_seed(1, "s", 0), conversation_seed(1, "s", 0));
        assert_ne!(conversation_seed(1, "s", 0), conversation_seed(1, "s", 1));
        assert_ne!(conversation_seed(1, "s", 0), conversation_seed(2, "s", 0));
    }
}
