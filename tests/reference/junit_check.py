"""Validates a run's junit.xml against the JUnit schema, reads it with junitparser (its xunit2 model follows the
Jenkins junit-10 schema CI systems render) and checks it against the run's
own tables: one test case per scenario x variant x repeat, failures where
verdicts failed, errors where conversations errored.

Usage: python junit_check.py RUN_DIR
Prints one line per check and a closing "N passed, N failed" line.
"""

import csv
import os
import sys

import xmlschema
from junitparser.xunit2 import JUnitXml


def main():
    run = sys.argv[1]
    path = os.path.join(run, "junit.xml")
    schema = xmlschema.XMLSchema(os.path.join(os.path.dirname(os.path.abspath(__file__)), "junit.xsd"))
    errors = [str(e.reason) for e in schema.iter_errors(path)]
    xml = JUnitXml.fromfile(path)
    rows = list(csv.DictReader(open(os.path.join(run, "conversations.csv"))))
    results = []

    def record(name, ok, detail=""):
        results.append((name, ok, detail))

    record("valid against the JUnit schema (tests/reference/junit.xsd)", not errors, "; ".join(errors[:3]))
    cases = {}
    for suite in xml:
        for case in suite:
            kinds = [type(r).__name__ for r in case.result]
            cases[(suite.name, case.name)] = (kinds, case)
    record("one test case per conversation", len(cases) == len(rows), f"{len(cases)} cases, {len(rows)} conversations")
    wrong = []
    for r in rows:
        # Calls under a condition other than clean are named with it.
        where = "" if r["condition"] == "clean" else f" @{r['condition']}"
        key = (r["variant"], f"{r['scenario']} #{r['repeat']}{where}")
        kinds, case = cases.get(key, (None, None))
        want = {"fail": ["Failure"], "error": ["Error"], "undecided": ["Skipped"]}.get(r["verdict"], [])
        if kinds != want:
            wrong.append(f"{key}: {kinds} != {want}")
        elif want == ["Failure"] and not case.result[0].message:
            wrong.append(f"{key}: failure without a message")
    record("results match verdicts (failure/error/skipped)", not wrong, "; ".join(wrong[:3]))
    total = sum(s.tests for s in xml)
    failures = sum(s.failures for s in xml)
    record("suite counts add up", total == len(rows) and failures == sum(r["verdict"] == "fail" for r in rows),
           f"{total} tests, {failures} failures")
    failed = 0
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} junit {name}: {detail}")
        failed += not ok
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
