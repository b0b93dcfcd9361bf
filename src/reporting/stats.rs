//! The statistics reports rely on: Wilson score intervals for pass rates,
//! pass^k over repeats, McNemar's exact test for paired pass/fail outcomes,
//! and paired bootstrap intervals for differences. Seeded, so reports are
//! reproducible.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// 95% Wilson score interval for `passes` out of `n`.
pub fn wilson(passes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054;
    let (n, p) = (n as f64, passes as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n) + z * z / (4.0 * n * n)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// pass^k as in tau-bench: the chance that k repeats of a task all pass,
/// estimated per task from its c passes in n repeats as C(c,k)/C(n,k), then
/// averaged over tasks. Tasks with fewer than k repeats are left out.
pub fn pass_hat_k(tasks: &[(u64, u64)], k: u64) -> Option<f64> {
    let values: Vec<f64> = tasks
        .iter()
        .filter(|(_, n)| *n >= k && k > 0)
        .map(|&(c, n)| binomial(c, k) / binomial(n, k))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn binomial(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Arithmetic mean; None for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The `q` quantile with linear interpolation between the closest ranks
/// (numpy's and polars' default `linear` method); None for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64))
}

/// Two-sided exact McNemar p-value from the discordant pairs: `b` pairs
/// where only the baseline passed, `c` where only the candidate passed.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // P(X <= k) for X ~ Binomial(n, 1/2), doubled.
    let mut term = 0.5f64.powi(n as i32);
    let mut cdf = term;
    for i in 0..k {
        term *= (n - i) as f64 / (i + 1) as f64;
        cdf += term;
    }
    (2.0 * cdf).min(1.0)
}

/// Paired bootstrap 95% interval of the mean difference (candidate − baseline).
pub fn bootstrap_mean_diff(
    pairs: &[(f64, f64)],
    resamples: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    bootstrap_interval(pairs, resamples, seed, 0.05)
}

/// Paired bootstrap percentile interval at level `1 - alpha`.
pub fn bootstrap_interval(
    pairs: &[(f64, f64)],
    resamples: usize,
    seed: u64,
    alpha: f64,
) -> Option<(f64, f64)> {
    if pairs.is_empty() {
        return None;
    }
    let diffs: Vec<f64> = pairs.iter().map(|(a, b)| b - a).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let total: f64 = (0..diffs.len())
                .map(|_| diffs[rng.random_range(0..diffs.len())])
                .sum();
            total / diffs.len() as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    Some((at(alpha / 2.0), at(1.0 - alpha / 2.0)))
}

/// Two-sided Fisher's exact test of two independent proportions,
/// `a` of `n1` against `b` of `n2`: the probability, with the margins fixed,
/// of a table no more likely than the one observed (as scipy's
/// `fisher_exact` computes it).
pub fn fisher_exact(a: u64, n1: u64, b: u64, n2: u64) -> f64 {
    let successes = a + b;
    let total = n1 + n2;
    if n1 == 0 || n2 == 0 || successes == 0 || successes == total {
        return 1.0;
    }
    let ln_fact = |n: u64| (1..=n).map(|i| (i as f64).ln()).sum::<f64>();
    let ln_choose = |n: u64, k: u64| ln_fact(n) - ln_fact(k) - ln_fact(n - k);
    let ln_total = ln_choose(total, successes);
    let ln_p = |x: u64| ln_choose(n1, x) + ln_choose(n2, successes - x) - ln_total;
    let observed = ln_p(a);
    let low = successes.saturating_sub(n2);
    let high = successes.min(n1);
    // Tables within a relative 1e-7 of the observed one count as equally
    // likely (scipy uses the same tolerance).
    let p: f64 = (low..=high)
        .map(ln_p)
        .filter(|lp| *lp <= observed + 1e-7)
        .map(f64::exp)
        .sum();
    p.min(1.0)
}

/// Discordant pairs needed for McNemar to reach p < 0.05 if every discordant
/// pair went one way: the smallest n with 2·0.5ⁿ < 0.05.
pub fn discordant_pairs_needed() -> u64 {
    (1..64).find(|n| mcnemar_exact(*n, 0) < 0.05).unwrap_or(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_linearly_as_numpy_does() {
        // numpy.quantile([1, 2, 3, 4, 10], [0.5, 0.95, 0.0]) == [3.0, 8.8, 1.0]
        let v = [4.0, 1.0, 10.0, 3.0, 2.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert!((quantile(&v, 0.95).unwrap() - 8.8).abs() < 1e-12);
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(mean(&[1.0, 2.0]), Some(1.5));
    }

    #[test]
    fn fisher_exact_matches_scipy() {
        // scipy.stats.fisher_exact([[a, n1 - a], [b, n2 - b]]).pvalue
        let close = |x: f64, want: f64| (x - want).abs() < 1e-9 * want.max(1e-12) + 1e-12;
        assert!(close(fisher_exact(8, 10, 2, 10), 0.023_014_137_565_221_16));
        assert!(close(fisher_exact(40, 40, 0, 8), 2.650_066_691_313_347e-9));
        assert!(close(fisher_exact(3, 5, 3, 5), 1.0));
        assert_eq!(fisher_exact(0, 0, 3, 5), 1.0);
    }

    #[test]
    fn wilson_matches_published_values() {
        // 8/10: Wilson 95% CI is [0.490, 0.943] (Newcombe 1998 style tables).
        let (lo, hi) = wilson(8, 10).unwrap();
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 5).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.4345).abs() < 1e-3, "{hi}");
        assert!(wilson(0, 0).is_none());
    }

    #[test]
    fn pass_hat_k_is_the_all_k_pass_probability() {
        // 3 of 4 passes: pass^1 = 0.75, pass^2 = C(3,2)/C(4,2) = 0.5, pass^4 = 0.
        assert_eq!(pass_hat_k(&[(3, 4)], 1), Some(0.75));
        assert_eq!(pass_hat_k(&[(3, 4)], 2), Some(0.5));
        assert_eq!(pass_hat_k(&[(3, 4)], 4), Some(0.0));
        assert_eq!(pass_hat_k(&[(3, 4), (4, 4)], 2), Some(0.75));
        assert_eq!(pass_hat_k(&[(1, 1)], 2), None);
    }

    #[test]
    fn mcnemar_exact_p_values() {
        // Binomial(10, 1/2): P(X <= 1) = 11/1024, two-sided 22/1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert!(mcnemar_exact(0, 6) < 0.05 && mcnemar_exact(0, 5) > 0.05);
        assert_eq!(discordant_pairs_needed(), 6);
    }

    #[test]
    fn bootstrap_interval_covers_the_true_difference() {
        let pairs: Vec<(f64, f64)> = (0..200)
            .map(|i| (i as f64 % 7.0, i as f64 % 7.0 + 10.0))
            .collect();
        let (lo, hi) = bootstrap_mean_diff(&pairs, 2000, 1).unwrap();
        assert!((lo - 10.0).abs() < 1e-9 && (hi - 10.0).abs() < 1e-9);
        let noisy: Vec<(f64, f64)> = (0..100)
            .map(|i| (0.0, if i % 2 == 0 { 1.0 } else { -1.0 }))
            .collect();
        let (lo, hi) = bootstrap_mean_diff(&noisy, 2000, 1).unwrap();
        assert!(lo < 0.0 && hi > 0.0, "no real difference: [{lo}, {hi}]");
    }
}
