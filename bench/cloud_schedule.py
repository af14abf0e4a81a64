"""Benchmark: how close the cloud schedule comes to what Runway's concurrency allows.

A default-sized job (48 segments × 5 s) runs on the loopback fakes through the real SDKs,
with Runway's latencies scaled down 100× (a picture 10 s → 0.1 s, a clip 60 s → 0.6 s),
3 tasks at once per model on both sides, every approval answered at once. Printed, not
asserted (this machine is shared and noisy):

- our wall time (``Pipeline.run``: script, pictures, clips and narration overlapping,
  early previews, assembly);
- a one-stage-after-another schedule measured in the same run on a fresh job: all
  pictures, then all clips, then the narration, then the assembly;
- the lower bound the concurrency allows: the first picture, then ceil(48 / 3) rounds of
  clips, plus the assembly as measured in our run; the ratios ours / lower bound (goal
  ≤ 1.1) and ours / sequential;
- the job's cost, all-Runway (OpenAI script and speech) and Runway pictures with offline
  motion: the estimate and the ledger of a real run of each.

The fakes hand out 160×90 media and the video is made at 90 pixels, so FFmpeg's time
(which does not depend on the schedule) stays a small, separately printed part of the
figures. The poll interval is the default scaled like the latencies (5 s → 0.05 s).

    .venv/bin/python bench/cloud_schedule.py [--segments 48] [--poll-interval 0.05]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fakes live in tests/

from storyreel.log import configure_logging
from storyreel.pipeline.ledger import estimate
from storyreel.pipeline.runner import Pipeline
from storyreel.providers.factory import build_providers
from storyreel.settings import Settings
from tests.fakes.openai_server import DEFAULT_KEY as OPENAI_KEY

RUNWAY_KEY = "bench-runway-key"
PROMPT = "A video about the history of coffee"
SCALE = 0.01  # Runway's ~10 s pictures and ~60 s clips, 100x faster


class StageClock:
    """A ``Progress`` that notes when each stage started and finished (wall seconds)."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    def stage(self, job, stage: str, total: int) -> None:
        self.started.setdefault(stage, time.perf_counter())

    def advance(self, job, stage: str, done: int, total: int) -> None:
        if done >= total:
            self.finished[stage] = time.perf_counter()

    def took(self, stage: str) -> float:
        return self.finished[stage] - self.started[stage]


_SERVE = """
import sys
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.runway_server import FakeRunway
kind, key, scale, concurrency = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
if kind == "openai":
    fake = FakeOpenAI(api_key=key)
else:
    fake = FakeRunway(api_key=key, picture_latency=10.0, clip_latency=60.0, scale=scale,
                      concurrency=concurrency, media_short_side=90)
fake.httpd.RequestHandlerClass.disable_nagle_algorithm = True
print(fake.url, flush=True)
fake.httpd.serve_forever(poll_interval=0.05)
"""


class ServedFake:
    """A fake in a process of its own, as the real servers are: it does not share this
    process's GIL with the pipeline's threads, which on a small, busy machine would add
    its request handling to every step.

    Its replies go out without Nagle's delay: ``BaseHTTPRequestHandler`` writes headers
    and body in two sends, and with Nagle on the body waits for the client's delayed ACK,
    ~40 ms on Linux, on every request of a kept-alive connection (three or four per
    Runway step). Real servers send a reply whole; the switch is socketserver's own.
    """

    def __init__(self, kind: str, key: str, concurrency: int) -> None:
        root = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVE, kind, key, str(SCALE), str(concurrency)],
                                     cwd=root, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.close()
            raise SystemExit(f"the fake {kind} server did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


def _settings(args, work: Path, openai_fake: ServedFake, runway_fake: ServedFake, **overrides) -> Settings:
    values = dict(segment_count=args.segments, segment_seconds=5.0, video_short_side=90, work_dir=work,
                  openai_api_key=OPENAI_KEY, openai_base_url=f"{openai_fake.url}/v1", runway_api_key=RUNWAY_KEY,
                  runway_base_url=runway_fake.url, poll_interval=args.poll_interval, task_timeout=300 * SCALE * 10,
                  concurrency=args.concurrency, model_concurrency={}, providers="", clips_during_review=False,
                  max_cost_per_job=0.0, max_cost_per_user_day=0.0)
    values.update(overrides)
    return Settings(_env_file=None, **values)


def _ours(settings: Settings):
    clock = StageClock()
    pipeline = Pipeline(settings, build_providers(settings), progress=clock)  # AutoApprove
    started = time.perf_counter()
    job = pipeline.new_job(PROMPT)
    pipeline.run(job, lambda j, o: None)
    return time.perf_counter() - started, clock, job, pipeline


def _sequential(settings: Settings) -> float:
    """One stage after another: every stage waits for the one before it."""
    pipeline = Pipeline(settings, build_providers(settings))
    started = time.perf_counter()
    job = pipeline.new_job(PROMPT)
    pipeline.files.create_job_dir(job.job_id)
    try:
        pipeline.write_script(job)
        pipeline.make_pictures(job)  # (the picture approval, answered at once)
        pipeline.make_clips(job)  # (the clip approval, answered at once)
        pipeline.narrate(job)
        pipeline.assemble(job)
        return time.perf_counter() - started
    finally:
        pipeline.files.cleanup_job(job.job_id)


def _by_stage(job) -> dict[str, float]:
    totals: dict[str, float] = {}
    for record in job.costs:
        totals[record["stage"]] = totals.get(record["stage"], 0.0) + record["cost"]
    return totals


def _cost_line(label: str, guess, job) -> str:
    spent = _by_stage(job)
    return (f"{label:<34} estimate ${guess.total:7.2f} (pictures {guess.pictures:.2f}, clips {guess.clips:.2f}, "
            f"script {guess.script:.3f}, speech {guess.narration:.3f})\n"
            f"{'':<34} ledger   ${job.cost:7.2f} (pictures {spent.get('pictures', 0):.2f}, "
            f"clips {spent.get('clips', 0):.2f}, script {spent.get('script', 0):.3f}, "
            f"speech {spent.get('narration', 0):.3f}; {len(job.costs)} paid calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="runs of each schedule; the median is shown")
    parser.add_argument("--poll-interval", type=float, default=Settings.model_fields["poll_interval"].default * SCALE)
    args = parser.parse_args()
    configure_logging("console", "WARNING")

    openai_fake = ServedFake("openai", OPENAI_KEY, args.concurrency)
    runway_fake = ServedFake("runway", RUNWAY_KEY, args.concurrency)
    try:
        _bench(args, openai_fake, runway_fake)
    finally:
        openai_fake.close()
        runway_fake.close()


def _bench(args, openai_fake: ServedFake, runway_fake: ServedFake) -> None:
    picture, clip = 10.0 * SCALE, 60.0 * SCALE
    rounds = math.ceil(args.segments / args.concurrency)
    with tempfile.TemporaryDirectory(prefix="storyreel-bench-") as tmp:
        settings = _settings(args, Path(tmp) / "work", openai_fake, runway_fake)
        _sequential(settings.model_copy(update={"segment_count": 3}))  # warm-up: fake media, imports, connections

        runs = []  # (ours, sequential, clock, job, pipeline), alternating so both see the same noise
        for _ in range(args.runs):
            ours, clock, job, pipeline = _ours(settings)
            runs.append((ours, _sequential(settings), clock, job, pipeline))
        ratios = sorted((r[0] / (picture + rounds * clip + r[2].took("assembly")), i) for i, r in enumerate(runs))
        ours, sequential, clock, job, pipeline = runs[ratios[len(ratios) // 2][1]]  # the median run
        assembly = clock.took("assembly")
        bound = picture + rounds * clip + assembly
        made = clock.finished["clips"] - clock.started["pictures"]
        first_clip = clock.started["clips"] - clock.started["pictures"]

        print(f"{args.segments} segments × 5 s; Runway latencies picture {picture:g} s, clip {clip:g} s "
              f"(1/{1 / SCALE:g} of real); {args.concurrency} at once per model; poll every "
              f"{args.poll_interval:g} s; media 160×90; median of {args.runs} run(s)")
        print(f"ours (overlapped)                  {ours:7.2f} s   (script {clock.took('script'):.2f} s, "
              f"first clip started {first_clip:.2f} s after the first picture, assembly {assembly:.2f} s)")
        print(f"  first picture → last clip        {made:7.2f} s   (bound {bound - assembly:.2f} s; "
              f"{(made - bound + assembly) / rounds * 1000:.0f} ms a round over: approval gate, poll lag, HTTP)")
        print(f"one stage after another            {sequential:7.2f} s")
        print(f"lower bound                        {bound:7.2f} s   ({picture:g} + {rounds} × {clip:g} + "
              f"assembly {assembly:.2f})")
        print(f"ours / lower bound                 {ours / bound:7.3f}     (goal ≤ 1.1; all runs: "
              f"{', '.join(f'{r:.3f}' for r, _ in sorted(ratios, key=lambda x: x[1]))})")
        print(f"ours / one after another            {ours / sequential:7.3f}     (all runs: "
              f"{', '.join(f'{r[0] / r[1]:.3f}' for r in runs)})")
        print(f"  at real Runway speed: ours ≈ {(ours - assembly) / SCALE / 60:.1f} min, one after another ≈ "
              f"{(sequential - assembly) / SCALE / 60:.1f} min of generation (+ assembly)")

        print()
        runway_all = estimate(settings, pipeline.providers, segment_count=args.segments, segment_seconds=5.0,
                              prompt_chars=len(PROMPT))
        print(_cost_line("all Runway + OpenAI script/speech", runway_all, job))
        mixed = settings.model_copy(update={"providers": "pictures=runway,motion=local"})
        mixed_wall, _, mixed_job, mixed_pipeline = _ours(mixed)
        mixed_guess = estimate(mixed, mixed_pipeline.providers, segment_count=args.segments, segment_seconds=5.0,
                               prompt_chars=len(PROMPT))
        print(_cost_line("Runway pictures + offline motion", mixed_guess, mixed_job))
        print(f"{'':<34} (that run took {mixed_wall:.2f} s; offline motion renders clips on this CPU)")


if __name__ == "__main__":
    main()
