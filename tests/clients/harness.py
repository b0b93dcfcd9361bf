"""Shared plumbing for the third-party client checks against `rehearse emulator`.

Each check drives the emulator with a real Realtime client library and must
fail if that library complains. Libraries complain in three ways, and all
three are collected here:

* Python `logging` records at WARNING and above (openai-agents, livekit-agents,
  websockets, aiohttp, asyncio's "Task exception was never retrieved");
* loguru messages at WARNING and above (Pipecat logs through loguru, which
  bypasses `logging` entirely);
* whatever the emulator itself writes to stderr (it logs at `warn` by default,
  so a line there is a warning about the session).

The emulator is started per check on 127.0.0.1 with an OS-chosen port, so
checks never collide with another emulator or with each other.
"""

import logging
import os
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Every await on the emulator is bounded by this: a hang is a failure, not a stuck CI.
TIMEOUT = 30
VERBOSE = bool(os.environ.get("CLIENT_CHECK_VERBOSE"))

# Order and reply that agents/support.yaml scripts: an order number in the
# caller's words makes the agent call lookup_order, and its next line quotes
# `result.item` only when the tool output parsed as JSON with found=true.
ORDER_ID = "NW10422"
ITEM = "a pair of trail boots"
TOOL_RESULT = {"found": True, "item": ITEM}
OPENING_LINE = "Hi, I want to return something."
ORDER_LINE = f"My order number is {ORDER_ID}."
# Agent audio is 24 kHz PCM16: 48,000 bytes a second.
PCM16_24K_BYTES_PER_SECOND = 48000


class Emulator:
    """`rehearse emulator` as a subprocess, with its stderr collected."""

    def __init__(self, binary, *extra_args):
        env = dict(os.environ, REHEARSE_LOG="warn")
        self.proc = subprocess.Popen(
            [binary, "emulator", "--listen", "127.0.0.1:0", "--agent", "agents/support.yaml",
             "--latency-ms", "0", *extra_args],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        # Read stderr on a thread so a chatty emulator can never block on a full pipe.
        self._reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._reader.start()
        line = self.proc.stdout.readline()  # "rehearse emulator listening on ws://HOST:PORT/v1/realtime"
        if "ws://" not in line:
            self.stop()
            raise RuntimeError(f"emulator did not start: {line!r} {self.stderr_lines}")
        self.ws_url = line.strip().split()[-1]
        self.host_port = self.ws_url.split("ws://")[1].split("/")[0]

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Complaints(logging.Handler):
    """Every WARNING+ record from `logging` and loguru, in order."""

    # Loggers that some libraries detach from the root (propagate=False) or
    # give their own level: the handler goes on them too, deduplicated below.
    CLIENT_LOGGERS = ("openai", "openai.agents", "livekit", "livekit.agents", "livekit.plugins.openai",
                      "websockets", "websockets.client", "aiohttp", "asyncio", "pipecat")

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []
        self._seen = set()

    def emit(self, record):
        if id(record) in self._seen:  # the same record reaching us via a child logger and the root
            return
        self._seen.add(id(record))
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
        self.records.append(f"{record.levelname} {record.name}: {message}")

    def install(self):
        root = logging.getLogger()
        root.addHandler(self)
        if root.level > logging.WARNING or root.level == logging.NOTSET:
            root.setLevel(logging.WARNING)
        for name in self.CLIENT_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self)
            # A library that raised its own threshold would hide warnings from us.
            if logger.level > logging.WARNING:
                logger.setLevel(logging.WARNING)
        if VERBOSE:
            debug = logging.StreamHandler(sys.stderr)
            debug.setFormatter(logging.Formatter("    [log] %(levelname)s %(name)s: %(message)s"))
            root.addHandler(debug)
            root.setLevel(logging.DEBUG)
        return self

    def install_loguru(self):
        """Pipecat logs with loguru; route its WARNING+ here and drop its DEBUG chatter."""
        from loguru import logger as loguru_logger

        loguru_logger.remove()

        def sink(message):
            record = message.record
            self.records.append(f"{record['level'].name} {record['name']}: {record['message']}")

        loguru_logger.add(sink, level="WARNING", format="{message}")
        if VERBOSE:
            loguru_logger.add(sys.stderr, level="DEBUG", format="    [loguru] {level} {name}: {message}")
        return self


def emulator_complaints(emulator):
    return [f"emulator stderr: {line}" for line in emulator.stderr_lines if line.strip()]


class Outcome:
    """What one check found: problems make it fail, notes are just shown."""

    def __init__(self, name):
        self.name, self.problems, self.notes, self.started = name, [], [], time.monotonic()

    def problem(self, text):
        self.problems.append(text)

    def expect(self, condition, text):
        if not condition:
            self.problem(text)

    def note(self, text):
        self.notes.append(text)

    def report(self):
        """Prints the check's line (and its details); returns True if it passed."""
        took = time.monotonic() - self.started
        status = "ok  " if not self.problems else "FAIL"
        print(f"{status} {self.name} ({took:.1f}s)")
        for p in self.problems:
            print(f"       - {p}")
        for n in self.notes:
            print(f"       . {n}")
        sys.stdout.flush()
        return not self.problems


def run_checks(checks, argv):
    """`python CHECK.py PATH/TO/rehearse`: runs each (name, fn(binary, outcome)) and summarises."""
    if len(argv) < 2:
        print(f"usage: {argv[0]} PATH/TO/rehearse", file=sys.stderr)
        sys.exit(2)
    binary = os.path.abspath(argv[1])
    passed = failed = 0
    for name, check in checks:
        outcome = Outcome(name)
        try:
            check(binary, outcome)
        except Exception as e:  # a crash in one check is that check's failure
            outcome.problem(f"check crashed: {type(e).__name__}: {e}")
        if outcome.report():
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
