"""Benchmark: narration on the Realtime API against /v1/audio/speech, in the same run.

A default job's narration (48 segments of ~11 words, the fake script writer's text) is
spoken through the real ``openai`` SDK against the loopback fake, ``--concurrency`` pieces
at once (threads, as the pipeline's scheduler calls ``speak``), both ways:

- Realtime (``OpenAIRealtimeNarrator``, ``gpt-realtime-2.1-mini``): pooled WebSocket
  connections, one out-of-band response per segment; the fake waits ``--first-audio``
  seconds before each response's first audio, then streams it ``--speed`` times faster
  than real time;
- speech (``OpenAINarrator``, ``gpt-4o-mini-tts`` on /v1/audio/speech): the fake answers
  each call after the same first-audio wait plus the time the mean segment's audio takes
  to stream at ``--speed`` (the narrator reads the whole body, so that is its latency).

Printed, not asserted (this machine is shared and noisy): wall time, calls and connections
for each, the ratio realtime / speech, and the bound the concurrency allows
(ceil(48 / concurrency) rounds of one call's latency). The fake runs in a process of its
own, as the real server does, so its work does not share this process's GIL.

    .venv/bin/python bench/narration_speech.py [--segments 48] [--concurrency 3] [--first-audio 0.8] [--speed 4]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fakes live in tests/

from storyreel.log import configure_logging
from storyreel.providers.base import metered
from storyreel.providers.openai_audio import OpenAINarrator
from storyreel.providers.openai_common import make_openai_client
from storyreel.providers.openai_realtime import OpenAIRealtimeNarrator
from storyreel.settings import Settings
from tests.fakes.openai_server import DEFAULT_KEY, write_script

PROMPT = "A video about the history of coffee"
CHARS_PER_SECOND = 15.0  # how fast the fake speaks (passed to it, so both sides agree)

_SERVE = """
import sys
from tests.fakes.openai_server import FakeOpenAI
key, http_latency, first_audio, speed = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
fake = FakeOpenAI(api_key=key, latency=http_latency, chars_per_second=float(sys.argv[5]))
fake.today = "2026-12-01"  # before /v1/audio/speech shuts down, whenever this runs
fake.realtime_latency, fake.realtime_speed = first_audio, speed
print(fake.url, flush=True)
fake.httpd.serve_forever(poll_interval=0.05)
"""


class ServedFake:
    """``FakeOpenAI`` in a process of its own (see bench/cloud_schedule.py for why)."""

    def __init__(self, http_latency: float, first_audio: float, speed: float) -> None:
        root = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, DEFAULT_KEY, str(http_latency), str(first_audio), str(speed),
             str(CHARS_PER_SECOND)], cwd=root, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.close()
            raise SystemExit("the fake OpenAI server did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


def _narrate(narrator, texts: list[str], concurrency: int, folder: Path) -> tuple[float, int]:
    """Wall seconds to speak every text, ``concurrency`` at once; and the responses paid for."""

    def one(i: int) -> int:
        with metered() as used:
            narrator.speak(texts[i], folder / f"{i:03d}.wav", language="en")
        return sum(1 for u in used if u.unit in ("audio_output_token", "character"))

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        paid = sum(pool.map(one, range(len(texts))))
    return time.perf_counter() - started, paid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=3, help="pieces at once (connections, threads)")
    parser.add_argument("--first-audio", type=float, default=0.8, help="seconds before a response's first audio")
    parser.add_argument("--speed", type=float, default=4.0, help="audio seconds streamed per second")
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the median is shown")
    args = parser.parse_args()
    configure_logging("console", "WARNING")

    texts = [s["text"] for s in write_script(PROMPT, args.segments, language="en", words=11)["segments"]]
    audio = statistics.mean(max(0.3, len(t) / CHARS_PER_SECOND) for t in texts)
    per_call = args.first_audio + audio / args.speed
    fake = ServedFake(per_call, args.first_audio, args.speed)
    try:
        _bench(args, fake, texts, audio, per_call)
    finally:
        fake.close()


def _bench(args, fake: ServedFake, texts: list[str], audio: float, per_call: float) -> None:
    common = dict(openai_api_key=DEFAULT_KEY, openai_base_url=f"{fake.url}/v1", openai_timeout=60.0)
    realtime_settings = Settings(_env_file=None, openai_tts_model="gpt-realtime-2.1-mini", **common)
    speech_settings = Settings(_env_file=None, openai_tts_model="gpt-4o-mini-tts", **common)
    realtime_runs, speech_runs, connections = [], [], []
    with tempfile.TemporaryDirectory(prefix="storyreel-bench-") as tmp:
        for run in range(args.runs):  # alternating, so both see the same noise
            folder = Path(tmp) / f"rt{run}"
            folder.mkdir()
            with OpenAIRealtimeNarrator(make_openai_client(realtime_settings), realtime_settings) as narrator:
                realtime_runs.append(_narrate(narrator, texts, args.concurrency, folder))
                connections.append(narrator.connections_opened)
            folder = Path(tmp) / f"sp{run}"
            folder.mkdir()
            speech = OpenAINarrator(make_openai_client(speech_settings), speech_settings)
            speech_runs.append(_narrate(speech, texts, args.concurrency, folder))

    rt_wall, rt_calls = sorted(realtime_runs)[len(realtime_runs) // 2]
    sp_wall, sp_calls = sorted(speech_runs)[len(speech_runs) // 2]
    rounds = math.ceil(len(texts) / args.concurrency)
    bound = rounds * per_call
    words = statistics.mean(len(t.split()) for t in texts)
    print(f"{len(texts)} segments of {words:.1f} words ({audio:.2f} s of speech each on average); "
          f"{args.concurrency} at once; first audio after {args.first_audio:g} s, streamed {args.speed:g}× real "
          f"time ({per_call:.2f} s a call); median of {args.runs} run(s)")
    print(f"realtime  (WebSocket, pooled)      {rt_wall:7.2f} s   {rt_calls} responses on "
          f"{statistics.median(connections):g} connection(s)  (all runs: "
          f"{', '.join(f'{w:.2f}' for w, _ in realtime_runs)} s)")
    print(f"speech    (/v1/audio/speech)       {sp_wall:7.2f} s   {sp_calls} HTTP calls on the SDK's keep-alive "
          f"pool  (all runs: {', '.join(f'{w:.2f}' for w, _ in speech_runs)} s)")
    print(f"bound     ({rounds} rounds × {per_call:.2f} s)     {bound:7.2f} s")
    print(f"realtime / speech                  {rt_wall / sp_wall:7.3f}")
    print(f"realtime / bound                   {rt_wall / bound:7.3f}     speech / bound {sp_wall / bound:.3f}")


if __name__ == "__main__":
    main()
