//! How well the machine's verdicts agree with human reviewers
//! (`labels.jsonl`), per check and judge criterion: percent agreement,
//! Cohen's kappa with its asymptotic 95% interval (Fleiss, Cohen & Everitt
//! 1969, as SAS and statsmodels compute it), the confusion table and the
//! calls where they disagree; and the agreement between reviewers where two
//! labelled the same item.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;

use super::tables::{ConversationRow, ResultRow};
use crate::run_folder::{HumanVerdict, LabelRecord, OVERALL, latest_labels};

/// Cohen's kappa of two raters' pass/fail verdicts on the same items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kappa {
    pub n: u64,
    /// Share of items both rated the same.
    pub agreement: f64,
    /// None when chance agreement is total (both raters gave one verdict to
    /// everything): kappa is undefined there.
    pub kappa: Option<f64>,
    pub std_error: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Rows: first rater pass, fail; columns: second rater pass, fail.
    pub table: [[u64; 2]; 2],
}

/// Kappa of `pairs` (first rater, second rater; true = pass).
pub fn cohen_kappa(pairs: &[(bool, bool)]) -> Kappa {
    let mut table = [[0u64; 2]; 2];
    for &(a, b) in pairs {
        table[usize::from(!a)][usize::from(!b)] += 1;
    }
    let n = pairs.len() as u64;
    let nf = n.max(1) as f64;
    let p = |i: usize, j: usize| table[i][j] as f64 / nf;
    let row = [p(0, 0) + p(0, 1), p(1, 0) + p(1, 1)];
    let col = [p(0, 0) + p(1, 0), p(0, 1) + p(1, 1)];
    let agree = p(0, 0) + p(1, 1);
    let expected = row[0] * col[0] + row[1] * col[1];
    let mut out = Kappa {
        n,
        agreement: agree,
        kappa: None,
        std_error: None,
        ci_low: None,
        ci_high: None,
        table,
    };
    if n == 0 || (1.0 - expected).abs() < 1e-12 {
        return out;
    }
    let kappa = (agree - expected) / (1.0 - expected);
    // Fleiss, Cohen & Everitt (1969): the variance of kappa when it is not 0.
    let a: f64 = (0..2)
        .map(|i| p(i, i) * (1.0 - (row[i] + col[i]) * (1.0 - kappa)).powi(2))
        .sum();
    let b: f64 = (1.0 - kappa).powi(2)
        * [(0, 1), (1, 0)]
            .iter()
            .map(|&(i, j)| p(i, j) * (col[i] + row[j]).powi(2))
            .sum::<f64>();
    let c = (kappa - expected * (1.0 - kappa)).powi(2);
    let variance = ((a + b - c) / (nf * (1.0 - expected).powi(2))).max(0.0);
    let se = variance.sqrt();
    let z = 1.959_963_984_540_054;
    out.kappa = Some(kappa);
    out.std_error = Some(se);
    out.ci_low = Some(kappa - z * se);
    out.ci_high = Some(kappa + z * se);
    out
}

/// A call where the machine and a reviewer disagree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    pub conversation: String,
    pub reviewer: String,
    pub machine_passed: bool,
    pub human_passed: bool,
    pub note: String,
}

/// One check's (or the overall verdict's) agreement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemAgreement {
    pub item: String,
    /// Machine (first rater) against every reviewer's labels pooled.
    pub machine_vs_human: Kappa,
    pub disagreements: Vec<Disagreement>,
    /// Between two reviewers who labelled the same calls (the first two by name).
    pub between_reviewers: Option<(String, String, Kappa)>,
}

/// Agreement for every item anyone labelled.
pub fn agreement(
    labels: &[LabelRecord],
    conversations: &[ConversationRow],
    results: &[ResultRow],
    dir_of: &dyn Fn(&ConversationRow) -> String,
) -> Vec<ItemAgreement> {
    let latest = latest_labels(labels);
    // The machine's decided verdicts, by (conversation dir, item).
    let mut machine: BTreeMap<(String, String), bool> = BTreeMap::new();
    for c in conversations {
        let dir = dir_of(c);
        if let Some(p) = c.passed {
            machine.insert((dir.clone(), OVERALL.to_string()), p);
        }
        let same_call = |r: &&ResultRow| {
            r.variant == c.variant
                && r.condition == c.condition
                && r.scenario == c.scenario
                && r.repeat == c.repeat
        };
        for r in results.iter().filter(same_call) {
            if let Some(p) = r.passed {
                machine.insert((dir.clone(), r.check.clone()), p);
            }
        }
    }
    let items: BTreeSet<&str> = latest.values().map(|l| l.item.as_str()).collect();
    items
        .into_iter()
        .map(|item| {
            let mine: Vec<&&LabelRecord> = latest.values().filter(|l| l.item == item).collect();
            let mut pairs = Vec::new();
            let mut disagreements = Vec::new();
            for l in &mine {
                let Some(&m) = machine.get(&(l.conversation.clone(), item.to_string())) else {
                    continue;
                };
                let h = l.verdict == HumanVerdict::Pass;
                pairs.push((m, h));
                if m != h {
                    disagreements.push(Disagreement {
                        conversation: l.conversation.clone(),
                        reviewer: l.reviewer.clone(),
                        machine_passed: m,
                        human_passed: h,
                        note: l.note.clone(),
                    });
                }
            }
            ItemAgreement {
                item: item.to_string(),
                machine_vs_human: cohen_kappa(&pairs),
                disagreements,
                between_reviewers: between_reviewers(&mine),
            }
        })
        .collect()
}

/// Kappa between the first two reviewers (by name) on the calls both labelled.
fn between_reviewers(labels: &[&&LabelRecord]) -> Option<(String, String, Kappa)> {
    let reviewers: BTreeSet<&str> = labels.iter().map(|l| l.reviewer.as_str()).collect();
    let mut names = reviewers.into_iter();
    let (a, b) = (names.next()?, names.next()?);
    let by = |who: &str| -> BTreeMap<&str, bool> {
        labels
            .iter()
            .filter(|l| l.reviewer == who)
            .map(|l| (l.conversation.as_str(), l.verdict == HumanVerdict::Pass))
            .collect()
    };
    let (first, second) = (by(a), by(b));
    let pairs: Vec<(bool, bool)> = first
        .iter()
        .filter_map(|(conv, x)| second.get(conv).map(|y| (*x, *y)))
        .collect();
    (!pairs.is_empty()).then(|| (a.to_string(), b.to_string(), cohen_kappa(&pairs)))
}

/// Kappa and its interval as the reports show them.
pub fn kappa_text(k: &Kappa) -> String {
    match (k.kappa, k.ci_low, k.ci_high) {
        (Some(v), Some(lo), Some(hi)) => format!("{v:.2} [{lo:.2}, {hi:.2}]"),
        _ => "undefined (one verdict only)".into(),
    }
}

/// `agreement.md` (and the section of `summary.md`).
pub fn markdown(items: &[ItemAgreement]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| item | labelled | agreement | Cohen's κ [95% CI] | machine pass / human pass | machine pass / human fail | machine fail / human pass | machine fail / human fail | between reviewers |\n|---|---|---|---|---|---|---|---|---|"
    );
    for i in items {
        let k = &i.machine_vs_human;
        let between = match &i.between_reviewers {
            Some((a, b, k)) => format!("{a} vs {b}: κ {} (n = {})", kappa_text(k), k.n),
            None => "–".into(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {:.0}% | {} | {} | {} | {} | {} | {between} |",
            i.item,
            k.n,
            k.agreement * 100.0,
            kappa_text(k),
            k.table[0][0],
            k.table[0][1],
            k.table[1][0],
            k.table[1][1],
        );
    }
    let disagreements: Vec<(&str, &Disagreement)> = items
        .iter()
        .flat_map(|i| i.disagreements.iter().map(move |d| (i.item.as_str(), d)))
        .collect();
    if !disagreements.is_empty() {
        let _ = writeln!(out, "\nWhere the machine and a reviewer disagree:\n");
        for (item, d) in disagreements {
            let verdict = |p: bool| if p { "pass" } else { "fail" };
            let _ = writeln!(
                out,
                "- [`{}`]({}/) `{item}`: machine {}, {} {}{}",
                d.conversation,
                d.conversation,
                verdict(d.machine_passed),
                d.reviewer,
                verdict(d.human_passed),
                if d.note.is_empty() {
                    String::new()
                } else {
                    format!(" (\"{}\")", d.note)
                }
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_matches_statsmodels_on_a_worked_table() {
        // statsmodels.stats.inter_rater.cohens_kappa([[20, 5], [10, 15]]):
        // kappa 0.4, std_kappa 0.126996, kappa_low 0.151092, kappa_upp 0.648908;
        // sklearn's cohen_kappa_score gives the same kappa.
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n((true, true), 20));
        pairs.extend(std::iter::repeat_n((true, false), 5));
        pairs.extend(std::iter::repeat_n((false, true), 10));
        pairs.extend(std::iter::repeat_n((false, false), 15));
        let k = cohen_kappa(&pairs);
        assert_eq!(k.table, [[20, 5], [10, 15]]);
        assert!((k.agreement - 0.7).abs() < 1e-12);
        assert!((k.kappa.unwrap() - 0.4).abs() < 1e-12);
        assert!(
            (k.std_error.unwrap() - 0.126_996_062_931).abs() < 1e-9,
            "{k:?}"
        );
        assert!(
            (k.ci_low.unwrap() - 0.151_092_290_477).abs() < 1e-9,
            "{k:?}"
        );
        assert!(
            (k.ci_high.unwrap() - 0.648_907_709_523).abs() < 1e-9,
            "{k:?}"
        );
    }

    #[test]
    fn one_verdict_everywhere_leaves_kappa_undefined() {
        let k = cohen_kappa(&[(true, true), (true, true)]);
        assert_eq!(k.agreement, 1.0);
        assert!(k.kappa.is_none());
    }
}
