"""Benchmark: what the default job (48 segments × 5 s) costs in each way of making it.

Four modes, each run once on the loopback fakes through the real SDKs (OpenAI writes the
script and narrates; Runway's latencies scaled down 100× as in ``cloud_schedule.py``),
every approval answered at once:

- all Runway: every picture on ``gen4_image``, every clip on ``gen4_turbo``;
- turbo pictures: picture 1 on ``gen4_image``, the 47 others on ``gen4_image_turbo``
  with picture 1 as their reference;
- motion budget 12 of 48: the 12 segments the script writer marked most visual are
  animated by Runway, the other 36 pan and zoom locally;
- offline motion: every clip pans and zooms locally.

For each mode: the estimate the person sees before approving the script, and the ledger
of the real run (the sum of every paid call), by stage; then each mode's cost as a
share of all-Runway's, measured in the same run. Printed, not asserted.

    .venv/bin/python bench/cost_modes.py [--segments 48]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fakes live in tests/
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cloud_schedule import PROMPT, RUNWAY_KEY, ServedFake, _cost_line, _settings  # noqa: E402

from storyreel.log import configure_logging  # noqa: E402
from storyreel.pipeline.ledger import estimate  # noqa: E402
from storyreel.pipeline.runner import Pipeline  # noqa: E402
from storyreel.providers.factory import build_providers  # noqa: E402
from tests.fakes.openai_server import DEFAULT_KEY as OPENAI_KEY  # noqa: E402

#: mode → (settings changed, a line saying what it is)
MODES = {
    "all Runway": ({}, "gen4_image pictures, gen4_turbo clips"),
    "turbo pictures": ({"fast_pictures": True}, "picture 1 gen4_image, the rest gen4_image_turbo"),
    "motion budget 12": ({"motion_budget": 12}, "12 clips on gen4_turbo, 36 local"),
    "offline motion": ({"providers": "motion=local"}, "every clip local"),
}


def _run(settings):
    with build_providers(settings) as providers:
        pipeline = Pipeline(settings, providers)  # every approval answered at once
        job = pipeline.new_job(PROMPT)
        guess = estimate(settings, providers, segment_count=job.segment_count,
                         segment_seconds=job.segment_seconds, prompt_chars=len(job.prompt), options=job.options)
        started = time.perf_counter()
        pipeline.run(job, lambda j, o: None)
        return guess, job, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    openai_fake = ServedFake("openai", OPENAI_KEY, args.concurrency)
    runway_fake = ServedFake("runway", RUNWAY_KEY, args.concurrency)
    try:
        with tempfile.TemporaryDirectory(prefix="storyreel-bench-") as tmp:
            results = {}
            for mode, (changes, _what) in MODES.items():
                settings = _settings(args, Path(tmp) / "work", openai_fake, runway_fake, **changes)
                results[mode] = _run(settings)
    finally:
        openai_fake.close()
        runway_fake.close()

    print(f"The default job ({args.segments} segments × 5 s) on the fakes, OpenAI script and narration, "
          f"list prices; one run per mode")
    base_guess, base_job, _ = results["all Runway"]
    for mode, (guess, job, wall) in results.items():
        print(f"\n{mode} — {MODES[mode][1]} (wall {wall:.1f} s)")
        print(_cost_line("", guess, job))
    print("\nmode                 estimate   ledger   share of all-Runway (estimate / ledger)")
    for mode, (guess, job, _wall) in results.items():
        print(f"{mode:<20} ${guess.total:7.2f}  ${job.cost:7.2f}   {guess.total / base_guess.total:5.2f} / "
              f"{job.cost / base_job.cost:5.2f}")


if __name__ == "__main__":
    main()
