//! The verdict rules: how a call's checks decide it.

use crate::run_folder::{Check, CheckStatus, Verdict};

/// The overall verdict. A fail anywhere fails; otherwise an error makes it
/// an error (not a fail); a pass needs at least one check that passed, so a
/// skipped check never turns a conversation green.
pub fn verdict(conversation_ok: bool, checks: &[Check]) -> Verdict {
    if !conversation_ok {
        return Verdict::Error;
    }
    let has = |s: CheckStatus| checks.iter().any(|c| c.status == s);
    if has(CheckStatus::Fail) {
        Verdict::Fail
    } else if has(CheckStatus::Error) {
        Verdict::Error
    } else if has(CheckStatus::Pass) {
        Verdict::Pass
    } else {
        Verdict::Undecided
    }
}

/// Weighted pass share of the checks that passed or failed.
pub fn weighted_score(checks: &[Check]) -> Option<f64> {
    let decided: Vec<&Check> = checks
        .iter()
        .filter(|c| matches!(c.status, CheckStatus::Pass | CheckStatus::Fail))
        .collect();
    let total: f64 = decided.iter().map(|c| c.weight).sum();
    (total > 0.0).then(|| {
        decided
            .iter()
            .filter(|c| c.status == CheckStatus::Pass)
            .map(|c| c.weight)
            .sum::<f64>()
            / total
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_folder::CheckKind;

    #[test]
    fn verdict_rules() {
        let pass = Check::new(CheckKind::Flow, "a", true);
        let fail = Check::new(CheckKind::Flow, "b", false);
        let skip = Check::skipped(CheckKind::Judge, "c", "no judge");
        let err = Check::error(CheckKind::Judge, "d", "timeout");
        assert_eq!(verdict(true, &[pass.clone(), skip.clone()]), Verdict::Pass);
        assert_eq!(
            verdict(true, std::slice::from_ref(&skip)),
            Verdict::Undecided,
            "skipped never turns green"
        );
        assert_eq!(
            verdict(true, &[pass.clone(), err.clone()]),
            Verdict::Error,
            "an error is not a fail"
        );
        assert_eq!(verdict(true, &[fail.clone(), err.clone()]), Verdict::Fail);
        assert_eq!(verdict(false, std::slice::from_ref(&pass)), Verdict::Error);
        assert_eq!(weighted_score(&[pass, fail.weight(3.0), skip]), Some(0.25));
    }
}
