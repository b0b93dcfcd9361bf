"""Recompute a run's aggregates from its Parquet tables with DuckDB, an
independent engine, and compare them with what rehearse reported
(results.json, which summary.md and junit.xml are rendered from).

Usage: python tables_check.py RUN_DIR
Prints one line per check and a closing "N passed, N failed" line.
"""

import json
import math
import os
import sys

import duckdb


def wilson(passes, n, z=1.959963984540054):
    if n == 0:
        return None
    p = passes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def close(a, b, tol=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def main():
    run = sys.argv[1]
    report = json.load(open(os.path.join(run, "results.json")))
    con = duckdb.connect()
    conv = os.path.join(run, "conversations.parquet")
    res = os.path.join(run, "results.parquet")
    results = []

    def record(name, ok, detail=""):
        results.append((name, ok, detail))

    # CSV and Parquet hold the same rows.
    for stem in ("conversations", "results"):
        n_parquet = con.execute(f"select count(*) from '{run}/{stem}.parquet'").fetchone()[0]
        n_csv = con.execute(f"select count(*) from read_csv_auto('{run}/{stem}.csv')").fetchone()[0]
        record(f"{stem}: parquet and csv row counts", n_parquet == n_csv, f"{n_parquet} vs {n_csv}")

    rows = con.execute(f"""
        select variant, count(*) as n,
               count(passed) as decided,
               sum(case when passed then 1 else 0 end) as passes,
               sum(case when status = 'error' then 1 else 0 end) as errors
        from '{conv}' group by variant order by variant""").fetchall()
    by_variant = {v["variant"]: v for v in report["variants"]}
    for variant, n, decided, passes, errors in rows:
        mine = by_variant.get(variant)
        ok = mine is not None and (mine["conversations"], mine["decided"], mine["passes"], mine["errors"]) == (n, decided, passes, errors)
        record(f"{variant}: counts", ok, f"duckdb {n}/{decided}/{passes}/{errors}")
        ci = wilson(passes, decided)
        ok = mine is not None and ci is not None and close(mine["ci_low"], ci[0]) and close(mine["ci_high"], ci[1])
        record(f"{variant}: Wilson 95% interval", ok, f"duckdb {ci}, rehearse {mine and (mine['ci_low'], mine['ci_high'])}")

    # Spend per variant: the agent's, the callers' and the judges', each priced
    # per call by rehearse; DuckDB only adds them up.
    costs = con.execute(f"""
        select variant, sum(cost_usd), sum(caller_cost_usd), sum(judge_cost_usd)
        from '{conv}' group by variant order by variant""").fetchall()
    for variant, agent, caller, judge in costs:
        mine = by_variant.get(variant) or {}
        ok = all(close(mine.get(k), v if v else None, 1e-9)
                 for k, v in (("cost_usd", agent), ("caller_cost_usd", caller), ("judge_cost_usd", judge)))
        record(f"{variant}: cost sums (agent, caller, judge)", ok,
               f"duckdb {(agent, caller, judge)}, rehearse {(mine.get('cost_usd'), mine.get('caller_cost_usd'), mine.get('judge_cost_usd'))}")

    checks = con.execute(f"""
        select variant, condition, scenario, persona, "check",
               count(passed) as decided,
               sum(case when passed then 1 else 0 end) as passes,
               sum(case when status = 'error' then 1 else 0 end) as errors,
               sum(case when status = 'skipped' then 1 else 0 end) as skipped,
               avg(value) as mean,
               quantile_cont(value, 0.5) as p50,
               quantile_cont(value, 0.95) as p95
        from '{res}' group by all""").fetchall()
    index = {(c["variant"], c["condition"], c["scenario"], c["persona"], c["check"]): c
             for c in report["checks"]}
    mismatches = []
    for variant, condition, scenario, persona, check, decided, passes, errors, skipped, mean, p50, p95 in checks:
        mine = index.get((variant, condition, scenario, persona, check))
        if mine is None:
            mismatches.append(f"missing {check}")
            continue
        same = (mine["decided"], mine["passes"], mine["errors"], mine["skipped"]) == (decided, passes, errors, skipped)
        same &= close(mine["value_mean"], mean, 1e-6) and close(mine["value_p50"], p50, 1e-6) and close(mine["value_p95"], p95, 1e-6)
        if not same:
            mismatches.append(f"{variant}/{scenario}/{check}: rehearse {mine}, duckdb {(decided, passes, errors, skipped, mean, p50, p95)}")
    record("every check aggregate (counts, mean, p50, p95)", not mismatches and len(checks) == len(report["checks"]),
           f"{len(checks)} groups; " + "; ".join(mismatches[:3]))

    # Pass rate per variant × acoustic condition, with its Wilson interval.
    per_condition = con.execute(f"""
        select variant, condition, count(*), count(passed),
               sum(case when passed then 1 else 0 end), avg(line_snr_db)
        from '{conv}' group by variant, condition order by variant, condition""").fetchall()
    mine_by = {(c["variant"], c["condition"]): c for c in report["conditions"]}
    record("a row per variant × condition", len(per_condition) == len(report["conditions"]),
           f"duckdb {len(per_condition)}, rehearse {len(report['conditions'])}")
    for variant, condition, n, decided, passes, snr in per_condition:
        mine = mine_by.get((variant, condition))
        ci = wilson(passes, decided)
        ok = (mine is not None and (mine["conversations"], mine["decided"], mine["passes"]) == (n, decided, passes)
              and ci is not None and close(mine["ci_low"], ci[0]) and close(mine["ci_high"], ci[1])
              and close(mine["line_snr_db_mean"], snr, 1e-6))
        record(f"{variant} @{condition}: counts, Wilson interval, mean SNR", ok,
               f"duckdb {(n, decided, passes, ci, snr)}, rehearse {mine}")

    failed = 0
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} tables {name}: {detail}")
        failed += not ok
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
