"""rehearse agreement against scikit-learn and statsmodels.

Writes a seeded set of human labels into a run (two reviewers, one label
changed after the fact), runs `rehearse agreement RUN`, and recomputes every
figure it reports from the run's own tables: Cohen's kappa and the confusion
table with scikit-learn, the asymptotic standard error and 95% interval with
statsmodels, percent agreement, and the kappa between the two reviewers.

Usage: agreement_check.py REHEARSE_BIN RUN_DIR
"""

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.inter_rater import cohens_kappa

ITEMS = ["overall", "function_call.match"]


def machine_verdicts(run: Path) -> dict:
    manifest = json.loads((run / "run.json").read_text())
    dirs = {
        (c["variant"], c.get("condition", "clean"), c["scenario"], int(c["repeat"])): c["dir"]
        for c in manifest["conversations"]
    }
    key = lambda r: (r["variant"], r.get("condition") or "clean", r["scenario"], int(r["repeat"]))
    out = {}
    with open(run / "conversations.csv") as f:
        for r in csv.DictReader(f):
            if r["passed"] in ("true", "false"):
                out[(dirs[key(r)], "overall")] = r["passed"] == "true"
    with open(run / "results.csv") as f:
        for r in csv.DictReader(f):
            if r["check"] in ITEMS and r["passed"] in ("true", "false"):
                out[(dirs[key(r)], r["check"])] = r["passed"] == "true"
    return out


def write_labels(run: Path, machine: dict) -> list:
    rng = random.Random(7)
    labels = []
    for (conversation, item), m in sorted(machine.items()):
        human = m if rng.random() > 0.25 else not m
        label = lambda who, v: {"conversation": conversation, "item": item, "verdict": "pass" if v else "fail",
                                "reviewer": who, "at": "2026-12-02T10:00:00Z"}
        # ana changed her mind once per item: only the later label counts.
        labels.append(label("ana", not human))
        labels.append(label("ana", human))
        if rng.random() < 0.6:
            labels.append(label("bo", human if rng.random() > 0.2 else not human))
    (run / "labels.jsonl").write_text("".join(json.dumps(l) + "\n" for l in labels))
    return labels


def main() -> int:
    binary, run = sys.argv[1], Path(sys.argv[2])
    machine = machine_verdicts(run)
    labels = write_labels(run, machine)
    subprocess.run([binary, "agreement", str(run)], check=True, stdout=subprocess.DEVNULL)
    reported = {i["item"]: i for i in json.loads((run / "agreement.json").read_text())}
    latest = {}
    for l in labels:
        latest[(l["reviewer"], l["conversation"], l["item"])] = l["verdict"] == "pass"
    failures = []

    def close(name, got, want, tol=1e-9):
        if got is None or abs(got - want) > tol:
            failures.append(f"{name}: rehearse {got}, reference {want}")

    for item in ITEMS:
        pairs = [(machine[(c, i)], h) for (who, c, i), h in latest.items() if i == item and (c, i) in machine]
        m = [p[0] for p in pairs]
        h = [p[1] for p in pairs]
        got = reported[item]["machine_vs_human"]
        table = confusion_matrix(m, h, labels=[True, False])
        if got["table"] != table.tolist():
            failures.append(f"{item} table: rehearse {got['table']}, sklearn {table.tolist()}")
        close(f"{item} kappa", got["kappa"], cohen_kappa_score(m, h))
        ref = cohens_kappa(table, return_results=True)
        close(f"{item} std error", got["std_error"], ref.std_kappa)
        close(f"{item} ci low", got["ci_low"], ref.kappa_low)
        close(f"{item} ci high", got["ci_high"], ref.kappa_upp)
        close(f"{item} agreement", got["agreement"], sum(a == b for a, b in pairs) / len(pairs))
        if got["n"] != len(pairs):
            failures.append(f"{item} n: rehearse {got['n']}, reference {len(pairs)}")
        ana = {c: v for (who, c, i), v in latest.items() if who == "ana" and i == item}
        bo = {c: v for (who, c, i), v in latest.items() if who == "bo" and i == item}
        both = sorted(set(ana) & set(bo))
        between = reported[item]["between_reviewers"]
        close(f"{item} between reviewers", between[2]["kappa"], cohen_kappa_score([ana[c] for c in both], [bo[c] for c in both]))
        print(f"{item}: n={len(pairs)} kappa={got['kappa']:.4f} [{got['ci_low']:.4f}, {got['ci_high']:.4f}] "
              f"(sklearn {cohen_kappa_score(m, h):.4f}, statsmodels [{ref.kappa_low:.4f}, {ref.kappa_upp:.4f}]); "
              f"reviewers n={len(both)}")
    for f in failures:
        print("FAIL", f)
    print(f"agreement: {'ok' if not failures else str(len(failures)) + ' mismatches'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
