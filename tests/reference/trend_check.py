"""rehearse trend against statsmodels and scipy.

Runs five nights of the mini fixture (a copy of it), the last two with a
regression planted in the agent, runs `rehearse trend`, and recomputes every
row of trend.parquet (read with DuckDB): the Wilson interval of each pass
rate (statsmodels' proportion_confint, method "wilson"), the baseline window
pooled from the runs before, and Fisher's exact p-value against it (scipy).
The first flag must sit on night 4 and nowhere else.

Usage: trend_check.py REHEARSE_BIN REPO_DIR
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import proportion_confint

WINDOW = 5


def night(binary: str, project: Path, runs: Path, n: int) -> None:
    subprocess.run(
        [binary, "run", "--project", str(project), "--agent", "agents/desk.yaml", "--scenario", "quick",
         "--repeat", "3", "--latency-ms", "0", "--out", str(runs / f"night{n}")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def main() -> int:
    binary, repo = sys.argv[1], Path(sys.argv[2])
    work = Path(tempfile.mkdtemp())
    project = work / "project"
    shutil.copytree(repo / "tests/fixtures/mini", project)
    scenario = project / "scenarios/quick.yaml"
    scenario.write_text(scenario.read_text() + 'expectations:\n  must_not_say: ["sorry"]\n')
    runs = work / "runs"
    for n in (1, 2, 3):
        night(binary, project, runs, n)
    agent = project / "agents/desk.yaml"
    agent.write_text(agent.read_text().replace('say: "Hi, your order', 'say: "Sorry, hi, your order'))
    for n in (4, 5):
        night(binary, project, runs, n)
    subprocess.run([binary, "trend", str(runs)], check=True, stdout=subprocess.DEVNULL)
    rows = duckdb.sql(
        f"select * from read_parquet('{runs / 'trend.parquet'}') order by variant, \"check\", started_at"
    ).fetchall()
    columns = [c[0] for c in duckdb.sql(f"describe select * from read_parquet('{runs / 'trend.parquet'}')").fetchall()]
    failures = []
    series = {}
    for row in rows:
        r = dict(zip(columns, row))
        series.setdefault((r["variant"], r["check"]), []).append(r)
    firsts = []
    for (variant, check), points in series.items():
        for k, r in enumerate(points):
            low, high = proportion_confint(r["passes"], r["decided"], alpha=0.05, method="wilson")
            if abs(low - r["ci_low"]) > 1e-9 or abs(high - r["ci_high"]) > 1e-9:
                failures.append(f"{check} {r['run_id']}: Wilson [{r['ci_low']}, {r['ci_high']}] vs statsmodels [{low}, {high}]")
            window = points[max(0, k - WINDOW):k]
            b_pass = sum(p["passes"] for p in window)
            b_n = sum(p["decided"] for p in window)
            if (b_pass, b_n) != (r["baseline_passes"], r["baseline_decided"]):
                failures.append(f"{check} {r['run_id']}: baseline {r['baseline_passes']}/{r['baseline_decided']} vs {b_pass}/{b_n}")
            if b_n:
                p = fisher_exact([[r["passes"], r["decided"] - r["passes"]], [b_pass, b_n - b_pass]]).pvalue
                if r["p_value"] is None or abs(p - r["p_value"]) > 1e-9 * max(p, 1e-12) + 1e-15:
                    failures.append(f"{check} {r['run_id']}: Fisher p {r['p_value']} vs scipy {p}")
            if r["first"]:
                firsts.append((check, r["run_id"]))
    night4 = duckdb.sql(f"select run_id from read_json_auto('{runs / 'night4/run.json'}')").fetchone()[0]
    want = {("overall", night4), ("transcript.must_not_say:sorry", night4)}
    if set(firsts) != want:
        failures.append(f"first flags {sorted(firsts)}, expected {sorted(want)}")
    for f in failures:
        print("FAIL", f)
    print(f"trend: {len(rows)} rows checked, first flags {sorted(c for c, _ in firsts)}: "
          f"{'ok' if not failures else str(len(failures)) + ' mismatches'}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
