"""Acoustic conditions, checked independently of rehearse with numpy and scipy.

For every call of a run that crossed a line (`conversation.json` has `line`),
the two caller tracks are compared: `customer_clean.wav` (the caller before
the line) and `customer.wav` (what the agent received).

- additive noise only: the SNR over the caller's speech is within 0.5 dB of
  the configured `snr_db` (speech frames: 20 ms frames of the clean track at
  -60 dBFS or more; noise: received minus clean on the same frames), and of
  what rehearse recorded;
- a phone line (band-pass + G.711): the magnitude response estimated from the
  two tracks (Welch cross-spectrum) is flat in the voice band, about 3 dB down
  at the band edges, and at least 20 dB down below 150 Hz and above 4.5 kHz;
- packet loss: on the 20 ms packet grid of the timeline, the share of speech
  packets the line changed matches the configured loss (binomial bounds) and
  the count rehearse recorded.

Usage: line_check.py RUN_DIR
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.io import wavfile

FRAME = 480  # 20 ms at 24 kHz
SPEECH_FLOOR = (32768 * 10 ** (-60 / 20)) ** 2


def tracks(call: Path):
    rate_c, clean = wavfile.read(call / "customer_clean.wav")
    rate_r, received = wavfile.read(call / "customer.wav")
    assert rate_c == rate_r == 24000, (rate_c, rate_r)
    n = min(len(clean), len(received))
    return clean[:n].astype(np.float64), received[:n].astype(np.float64)


def frames(x):
    n = len(x) // FRAME * FRAME
    return x[:n].reshape(-1, FRAME)


def snr_db(clean, received):
    c, r = frames(clean), frames(received)
    power = (c ** 2).mean(axis=1)
    speech = power >= SPEECH_FLOOR
    noise = ((r - c) ** 2).mean(axis=1)
    return 10 * math.log10(power[speech].sum() / noise[speech].sum())


def response_db(clean, received, hz):
    f, pxy = signal.csd(clean, received, fs=24000, nperseg=4096)
    _, pxx = signal.welch(clean, fs=24000, nperseg=4096)
    h = np.abs(pxy) / np.maximum(pxx, 1e-12)
    return {k: 20 * math.log10(max(np.interp(k, f, h), 1e-9)) for k in hz}


def lost_share(clean, received):
    c, r = frames(clean), frames(received)
    speech = (c ** 2).mean(axis=1) >= SPEECH_FLOOR
    changed = np.abs(r - c).max(axis=1) > 1
    return int((changed & speech).sum()), int(speech.sum())


def main():
    run = Path(sys.argv[1])
    results = []

    def record(name, ok, detail):
        results.append((name, ok, detail))

    calls = [p.parent for p in sorted(run.glob("conversations/*/*/*/conversation.json"))]
    lines = 0
    for call in calls:
        outcome = json.loads((call / "conversation.json").read_text())
        line = outcome.get("line")
        if not line or outcome["status"] != "completed":
            continue
        lines += 1
        name = f"{line['condition']} {call.parent.name}"
        stages = line["stages"]
        kinds = [next(iter(s)) for s in stages]
        clean, received = tracks(call)
        if kinds == ["noise"]:
            want = stages[0]["noise"]["snr_db"]
            got = snr_db(clean, received)
            recorded = line["snr_db"][0]
            record(f"{name}: SNR over the caller's speech", abs(got - want) <= 0.5 and abs(got - recorded) <= 0.5,
                   f"numpy {got:.2f} dB, configured {want} dB, rehearse recorded {recorded:.2f} dB")
        if kinds == ["band_pass", "codec"]:
            low, high = stages[0]["band_pass"]["low_hz"], stages[0]["band_pass"]["high_hz"]
            at = response_db(clean, received, [100, low, 1000, 2000, high, 5000, 6000])
            ok = (abs(at[1000]) <= 1.0 and abs(at[2000]) <= 1.0
                  and -5.0 <= at[low] <= -1.5 and -6.0 <= at[high] <= -2.0
                  and at[100] <= -20 and at[5000] <= -20 and at[6000] <= -20)
            record(f"{name}: band limits {low}-{high} Hz",
                   ok, ", ".join(f"{k} Hz {v:+.1f} dB" for k, v in at.items()))
        if kinds == ["packet_loss"]:
            spec = stages[0]["packet_loss"]
            lost, speech = lost_share(clean, received)
            # Late packets: a half-normal delay beyond the jitter buffer.
            late = math.erfc(spec["buffer_ms"] / (spec["jitter_ms"] * math.sqrt(2))) if spec["jitter_ms"] > 0 else 0.0
            p = spec["rate"] + (1 - spec["rate"]) * late
            bound = 4 * math.sqrt(p * (1 - p) / max(speech, 1)) + 1 / max(speech, 1)
            share = lost / max(speech, 1)
            recorded = (line.get("packets_lost", 0) + line.get("packets_late", 0)) / max(line.get("packets", 1), 1)
            record(f"{name}: packets lost", speech > 100 and abs(share - p) <= bound and abs(recorded - p) <= bound,
                   f"numpy {lost}/{speech} speech packets changed = {share:.4f}; expected {p:.4f} ± {bound:.4f}; "
                   f"rehearse recorded {recorded:.4f} of all packets")
    record("calls under a condition", lines > 0, f"{lines} calls crossed a line")

    failed = 0
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} line {name}: {detail}")
        failed += not ok
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
