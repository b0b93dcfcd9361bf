"""Runs every third-party client check against `rehearse emulator`, each in its own interpreter.

Separate processes because the clients install process-wide state (logging
handlers, loguru sinks, event-loop policies) and a hang or crash in one must
not take the others with it.

Usage: python run_all.py PATH/TO/rehearse
Prints each check's lines and a closing "N passed, N failed" line; exits non-zero on any failure.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS = ["close_handshake.py", "agents_sdk_check.py", "livekit_check.py", "pipecat_check.py"]
# Each check bounds its own waits at 30 s; this only catches a client that ignores cancellation.
HARD_TIMEOUT = 180
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} PATH/TO/rehearse", file=sys.stderr)
        sys.exit(2)
    binary = os.path.abspath(sys.argv[1])
    passed = failed = 0
    for script in CHECKS:
        try:
            run = subprocess.run([sys.executable, os.path.join(HERE, script), binary], cwd=HERE,
                                 capture_output=True, text=True, timeout=HARD_TIMEOUT)
            out, err, code = run.stdout, run.stderr, run.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err, code = f"killed after {HARD_TIMEOUT}s", None
        summary = None
        for line in out.splitlines():
            m = SUMMARY.match(line.strip())
            if m:
                summary = int(m[1]), int(m[2])
            else:
                print(line)
        if summary is not None:
            passed, failed = passed + summary[0], failed + summary[1]
        if summary is None or (code != 0 and summary[1] == 0):
            # The script died before reporting: show why, and count it as a failure.
            print(f"FAIL {script}: exited {code} without a result")
            for line in err.strip().splitlines()[-15:]:
                print(f"       {line}")
            failed += 1
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
