"""Benchmark: the default offline job (48 × 5 s, 1280×720) on this machine.

Prints figures, asserts nothing (this machine is shared and noisy):
- wall time of each stage and of the whole job, and its ratio to the video's length
  (goal: under 1.0, faster than real time);
- peak memory of the whole process tree (Python + FFmpeg children), sampled every
  50 ms (goal: under 500 MB);
- the final assembly alone, of the 48 ready clips plus narration (goal: under 10 s when
  no compression is needed), against a forced single re-encode of the same inputs
  measured in the same run (the path taken when compression or subtitles are needed).

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/offline_job.py
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import psutil

from storyreel.log import configure_logging
from storyreel.media import fonts
from storyreel.media.assemble import assemble, burn_filter
from storyreel.pipeline.runner import Pipeline
from storyreel.providers.factory import build_providers
from storyreel.settings import Settings


class PeakMemory:
    """Samples the memory of this process and all its children.

    The tree's figure adds up PSS (proportional set size): the two FFmpeg encoders map
    the same 170 MB static binary, and adding their RSS would count those shared pages
    twice. The single-process figure is plain RSS.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.peak_tree, self.peak_single = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    full = proc.memory_full_info()
                except psutil.Error:
                    continue
                total += getattr(full, "pss", full.rss)
                self.peak_single = max(self.peak_single, full.rss)
            self.peak_tree = max(self.peak_tree, total)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--resolution", type=int, default=720)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    with tempfile.TemporaryDirectory(prefix="storyreel-bench-") as tmp:
        settings = Settings(segment_count=args.segments, segment_seconds=args.seconds,
                            video_short_side=args.resolution, work_dir=Path(tmp) / "work")
        pipeline = Pipeline(settings, build_providers(settings))
        job = pipeline.new_job("A video about the history of coffee")
        pipeline.files.create_job_dir(job.job_id)
        stages: dict[str, float] = {}
        with PeakMemory() as memory:
            started = time.perf_counter()
            for name, step in [("script", pipeline.write_script), ("pictures", pipeline.make_pictures),
                               ("clips", pipeline.make_clips), ("narration", pipeline.narrate),
                               ("assembly", pipeline.assemble)]:
                t0 = time.perf_counter()
                step(job)
                stages[name] = time.perf_counter() - t0
            wall = time.perf_counter() - started
        # the baseline: one full re-encode of the same 48 clips (burned subtitles force it)
        clips = [Path(s.clip_path) for s in job.segments]
        t0 = time.perf_counter()
        result = assemble(clips, Path(job.narration_path), Path(tmp) / "reencoded.mp4",
                          fmt=pipeline.video_format(job), segment_seconds=job.segment_seconds,
                          max_bytes=settings.max_upload_bytes,
                          subtitles_filter=burn_filter("subtitles.srt", fonts.font_dir(), fonts.FONT_FAMILY,
                                                       pipeline.video_format(job).height),
                          workdir=pipeline.files.job_dir(job.job_id))
        reencode = time.perf_counter() - t0
        assert result.reencoded
        final = Path(job.output_path)
        size_mb = final.stat().st_size / 1_048_576
        pipeline.files.cleanup_job(job.job_id)

    fmt = pipeline.video_format(job)
    print(f"offline job: {args.segments} × {args.seconds:g} s at {fmt.width}×{fmt.height}, "
          f"{psutil.cpu_count()} cores")
    for name, seconds in stages.items():
        print(f"  {name:<10} {seconds:7.1f} s")
    print(f"  wall time  {wall:7.1f} s for {job.duration:.0f} s of video: ratio {wall / job.duration:.2f} "
          f"(goal < 1.00)")
    print(f"  peak memory, process tree (PSS) {memory.peak_tree / 1e6:.0f} MB (goal < 500 MB); "
          f"largest single process {memory.peak_single / 1e6:.0f} MB")
    print(f"  assembly (stream copy) {stages['assembly']:.1f} s (goal < 10 s); one full re-encode of the same "
          f"clips {reencode:.1f} s: ratio {stages['assembly'] / reencode:.2f}")
    print(f"  final video {size_mb:.1f} MB")


if __name__ == "__main__":
    main()
