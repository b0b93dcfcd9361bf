"""The offline voice's timbre, checked with Praat (parselmouth): a voice
with `--timbre T` must have its formants F1-F3 moved by T (measured with
Praat's Burg formant tracker, its ceiling scaled with the speaker as Praat
advises), while its pitch and its duration stay as they were.

Usage: voice_check.py REHEARSE_BINARY
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import parselmouth

LINE = "The order number is seven, and the zip code is nine."
CEILING_HZ = 5000.0  # Praat's formant ceiling for an adult male voice


def measure(binary: str, timbre: float, folder: Path):
    wav = folder / f"timbre-{timbre}.wav"
    subprocess.run(
        [binary, "speak", LINE, "--timbre", str(timbre), "--out", str(wav)], check=True
    )
    sound = parselmouth.Sound(str(wav))
    pitch = sound.to_pitch()
    f0 = pitch.selected_array["frequency"]
    voiced = [t for t, hz in zip(pitch.xs(), f0) if hz > 0]
    formants = sound.to_formant_burg(maximum_formant=CEILING_HZ * timbre)
    tracks = [
        float(np.nanmedian([formants.get_value_at_time(k, t) for t in voiced]))
        for k in (1, 2, 3)
    ]
    return sound.duration, float(np.median(f0[f0 > 0])), tracks


def main() -> int:
    binary = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base_duration, base_f0, base_formants = measure(binary, 1.0, folder)
        for timbre in (0.85, 1.2):
            duration, f0, formants = measure(binary, timbre, folder)
            ratios = [f / b for f, b in zip(formants, base_formants)]
            print(
                f"timbre {timbre}: formant ratios "
                + ", ".join(f"F{k + 1} {r:.3f}" for k, r in enumerate(ratios))
                + f"; F0 {f0:.1f} Hz (base {base_f0:.1f}); duration {duration:.2f} s (base {base_duration:.2f})"
            )
            for k, ratio in enumerate(ratios):
                if abs(ratio - timbre) > 0.06:
                    failures.append(f"timbre {timbre}: F{k + 1} moved by {ratio:.3f}")
            if abs(f0 / base_f0 - 1.0) > 0.05:
                failures.append(f"timbre {timbre}: F0 {f0:.1f} Hz against {base_f0:.1f} Hz")
            if abs(duration / base_duration - 1.0) > 0.05:
                failures.append(f"timbre {timbre}: {duration:.2f} s against {base_duration:.2f} s")
    for f in failures:
        print("FAIL", f)
    print("voice check:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
