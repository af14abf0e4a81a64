"""Benchmark: jobs whose worker is SIGKILLed at a random moment, and what they lose.

The whole bot runs on this machine (``tests.botworld.BotWorld``: fake Telegram, gunicorn,
``--workers`` real Celery workers (2 by default), beat, real Redis on database 9 —
refused if it holds keys) against the loopback OpenAI and Runway fakes (pictures 0.4 s,
clips 0.8 s, 160x90 media; the fake would run 10 tasks of a model at once, so the limit
of 3 is ours alone), with the settings of ``tests/test_resume.py`` but the production
recovery settings (``JOB_LOCK_SECONDS``, ``RECOVER_SECONDS``, ``BROKER_VISIBILITY_SECONDS``
at their defaults). Each worker is a "host" with its own WORK_DIR. One undisturbed job
first measures how long a job takes from the script approval to the video (D). Then
``--jobs`` jobs run one after another, a new user each: every approval is pressed as
soon as it shows; at a moment drawn uniformly in [0, D) after the script approval the
worker that last logged a line of the job's step (the one running it, read from the
workers' logs) gets SIGKILL with its process group, its disk is wiped (the machine is
gone) and a new worker starts on that host at once. Printed per job and in total:

- completed: a sendVideo to the user within ``--timeout`` seconds;
- duplicate paid calls: Runway creates beyond one per segment and model, OpenAI script
  calls beyond one. A create whose task id never showed in the job's record (sampled
  from Redis every few ms, and its final state) was lost between Runway's answer and
  our save — the accepted window (Runway takes no idempotency key) — and is counted
  apart, with how long before the kill it was made. Speech re-made after the kill
  (OpenAI TTS in flight when it landed) is shown for information;
- duplicate messages: a sendMessage/sendMediaGroup/sendPhoto/sendVideo to the user with
  the same content twice;
- leftover files: job folders still in the WORK_DIR of the host that delivered; folders
  a job's earlier steps left on the other host are counted apart (the hourly cleanup
  takes them);
- recovery: from the kill to the job's next move (a request to the fake Runway or OpenAI,
  a message to the user, an event in the job's history other than ``job_recovered``),
  p50, p95 and the worst over the kills that stopped the job (one that moves again
  within a third of ``JOB_LOCK_SECONDS``, before a dead holder's lock can lapse, was not
  stopped: its step was on the other worker), and over all kills;
- the most Runway tasks running at once, per model, over the whole run (from the fake),
  and the most open at once (THROTTLED ones too);
- the stage the kill landed in: the job's status in Redis just before it.

Also shown, outside the goal figures: jobs where a live step ran on after its
``JobLock`` had expired (the job in ``storyreel:running`` with no lock key while the
worker that took it is alive — what ``recover`` takes for a dead worker's job), and, for
a job with no video, the broker messages a killed worker had taken and never
acknowledged (Kombu keeps them in ``unacked`` until the visibility timeout).

Nothing here retries: a job that fails is reported (the run's folder, with every
process's log, is kept and printed) and the run goes on with the next one. Retrying is the
system's business (SDKs for HTTP, the call runner for failed tasks, ``recover`` for
jobs whose worker died); this script only watches.

    .venv/bin/python bench/reliability.py [--jobs 20] [--seed 7] [--workers 2] [--timeout 300] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fakes and BotWorld live in tests/

import redis  # noqa: E402

from storyreel.log import configure_logging  # noqa: E402
from storyreel.settings import Settings  # noqa: E402
from tests.botworld import BotWorld  # noqa: E402
from tests.fakes.openai_server import DEFAULT_KEY as OPENAI_KEY  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.runway_server import FakeRunway  # noqa: E402

DB = 9
N = 8  # segments per job
MODELS = {"gen4_image": "pictures", "gen4_turbo": "clips"}
#: how fast a dead worker's job moves again: the production defaults, not the tests' short ones
RECOVERY = {name: f"{Settings.model_fields[name.lower()].default:g}"
            for name in ("JOB_LOCK_SECONDS", "RECOVER_SECONDS", "BROKER_VISIBILITY_SECONDS")}
SETTINGS = dict(  # as tests/test_resume.py runs the bot, with the production recovery settings
    SEGMENT_COUNT=str(N), SEGMENT_SECONDS="1", VIDEO_SHORT_SIDE="480", BURN_SUBTITLES="true",
    POLL_INTERVAL="0.05", TASK_TIMEOUT="60", CLIPS_DURING_REVIEW="true", MIN_FREE_DISK_MB="0",
    CONCURRENCY="3", **RECOVERY,
)
RUNWAY_CAPACITY = 10  # the fake's own limit per model, above ours: what runs at once is our doing
_GRACE = 0.2  # seconds after the kill before a request counts as the job moving (one in flight lands late)
_SENDS = ("sendMessage", "sendMediaGroup", "sendPhoto", "sendVideo")
_MOVES = (*_SENDS, "editMessageText")  # what the user sees of a job moving on (not a press's answer)
_SETTLE = 1.5  # seconds after the video for a duplicate to show up, if there were one


@dataclass
class JobResult:
    """What one job did; ``kill_stage`` None when the video came before the kill moment."""

    n: int
    user: int
    job_id: str = ""
    kill_at: float | None = None
    kill_stage: str | None = None
    kill_detail: str = ""
    completed: bool = False
    video_after: float | None = None
    status: str = "?"
    dup_paid: dict[str, int] = field(default_factory=dict)  # pictures, clips, scripts
    lost_creates: list[float] = field(default_factory=list)  # ms before the kill, per lost create
    respoken: int = 0
    dup_messages: list[tuple] = field(default_factory=list)
    leftover: list[str] = field(default_factory=list)  # on the host that delivered
    elsewhere: list[str] = field(default_factory=list)  # on the other hosts (earlier steps ran there)
    kill_host: int | None = None
    hit_step: bool = False  # the job's lock was held at the kill: a step was running
    recovery: float | None = None  # seconds from the kill to the job's next move
    lock_lapsed: bool = False  # the step ran on after its job lock had expired
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (self.completed and self.status == "done" and not sum(self.dup_paid.values())
                and not self.dup_messages and not self.leftover)


class Bench:
    """The fakes and the bot, and one job at a time on them."""

    def __init__(self, openai_fake: FakeOpenAI, runway_fake: FakeRunway, world: BotWorld, timeout: float) -> None:
        self.openai, self.runway, self.world, self.timeout = openai_fake, runway_fake, world, timeout

    def run_job(self, n: int, user: int, kill_at: float | None) -> JobResult:
        w, res = self.world, JobResult(n, user, kill_at=kill_at)
        tasks0 = set(self.runway.tasks)
        scripts0 = self.openai.count("responses") + self.openai.count("chat")
        speech0 = self._spoken()
        dirs0 = {p.name for p in w.job_dirs()}
        w.say(user, f"A video about the history of coffee, part {n}")
        ask = w.wait_buttons(user, "s", timeout=60)
        res.job_id = next(b["callback_data"] for row in ask.params["reply_markup"]["inline_keyboard"]
                          for b in row).split(":")[1]
        w.press(user, ask)
        t0 = time.monotonic()
        seen: set[str] = set()  # every task id the job's record has held
        killed_at: float | None = None
        killed_wall = 0.0
        watch = _LockWatch(w.redis, res.job_id)
        mentions = _Mentions(w, res.job_id)
        delivered_by: int | None = None
        while time.monotonic() - t0 < self.timeout:
            job = self._record(res.job_id)
            seen |= _task_ids(job)
            watch.sample()
            mentions.sample()
            if self._video(user):
                res.completed, res.video_after = True, time.monotonic() - t0
                delivered_by = mentions.latest()
                break
            for call in self._open_buttons(user):  # every question is answered as soon as it shows
                w.press(user, call)
            if killed_at is None and kill_at is not None and time.monotonic() - t0 >= kill_at:
                job = self._record(res.job_id)  # the status just before the kill
                seen |= _task_ids(job)
                res.kill_stage, res.kill_detail = job.get("status", "?"), _progress(job)
                mentions.sample()
                res.hit_step = bool(w.redis.exists(f"storyreel:lock:{res.job_id}"))
                host = mentions.latest()
                res.kill_host = host = 0 if host is None else host
                watch.holder_died()
                w.kill_worker(host)
                killed_wall, killed_at = time.time(), time.monotonic()
                shutil.rmtree(w.work_dirs[host], ignore_errors=True)  # the machine is gone, its disk too
                w.work_dirs[host].mkdir()
                w.start_worker(host)  # not waited for: presses meanwhile queue up, as they would
                mentions.replaced(host)
            time.sleep(0.01)
        res.lock_lapsed = watch.lapsed
        if not res.completed:
            res.notes.append(f"no video within {self.timeout:g} s")
            stranded = _stranded(w.redis)
            if stranded:
                res.notes.append("taken by a worker, never acknowledged: " + "; ".join(stranded))
            for host, proc in enumerate(w.workers):
                if proc.poll() is not None:
                    res.notes.append(f"the worker of host {host} exited with {proc.returncode}")
        time.sleep(_SETTLE)
        _wait(lambda: self._record(res.job_id).get("status") in ("done", "failed", "cancelled")
              and {p.name for p in w.job_dirs()} <= dirs0, 10)
        job = self._record(res.job_id)
        seen |= _task_ids(job)
        res.status = job.get("status", "?")
        if job.get("error"):
            res.notes.append(f"error {job['error']}")

        new = [t for tid, t in dict(self.runway.tasks).items() if tid not in tasks0]
        for model, kind in MODELS.items():
            res.dup_paid[kind] = max(0, sum(1 for t in new if t.model == model) - N)
        lost = [t for t in new if t.id not in seen]
        if killed_at is not None:
            res.lost_creates = [round((killed_at - t.created) * 1000, 1) for t in lost]
        elif lost:
            res.notes.append(f"{len(lost)} created task(s) never recorded, with no kill")
        res.dup_paid["scripts"] = max(0, self.openai.count("responses") + self.openai.count("chat") - scripts0 - 1)
        spoken = sum(1 for s in (job.get("script") or {}).get("segments", []) if s.get("text", "").strip())
        res.respoken = max(0, self._spoken() - speech0 - spoken)
        if killed_at is not None:
            res.recovery = self._moved_after(user, job, killed_wall)

        sends = [_content(c) for c in w.tg.calls(chat_id=user) if c.ok and c.method in _SENDS]
        res.dup_messages = [m for m, k in collections.Counter(sends).items() if k > 1]
        res.leftover = sorted({p.name for p in w.job_dirs(delivered_by)} - dirs0) if delivered_by is not None \
            else sorted({p.name for p in w.job_dirs()} - dirs0)
        res.elsewhere = sorted({p.name for h in range(len(w.workers)) if h != delivered_by
                                for p in w.job_dirs(h)} - dirs0) if delivered_by is not None else []
        if not res.completed or res.status not in ("done",):
            w.say(user, "/cancel")  # a stuck job must not run on into the next one's figures
        return res

    # ---- looking ----------------------------------------------------------------------
    def _spoken(self) -> int:
        """Narration calls so far: /v1/audio/speech requests and Realtime responses."""
        return self.openai.count("speech") + self.openai.count("realtime")

    def _moved_after(self, user: int, job: dict, killed: float) -> float | None:
        """Seconds from the kill (wall clock) to the job's first move after it."""
        after = killed + _GRACE
        stamps = [r.at for r in list(self.runway.calls) if r.at >= after]
        stamps += [r.at for r in list(self.openai.calls) if r.at >= after and "/models" not in r.path]
        stamps += [c.at for c in self.world.tg.calls(chat_id=user) if c.at >= after and c.method in _MOVES]
        stamps += [h["at"] for h in job.get("history", []) if h.get("at", 0) >= after
                   and h.get("event") != "job_recovered"]
        return round(min(stamps) - killed, 2) if stamps else None

    def _record(self, job_id: str) -> dict:
        try:
            return self.world.job(job_id)
        except TypeError:  # not there (yet, or any more)
            return {}

    def _video(self, user: int) -> bool:
        return any(c.ok for c in self.world.tg.calls("sendVideo", chat_id=user))

    def _open_buttons(self, user: int) -> list:
        found = []
        for call in self.world.tg.calls("sendMessage", chat_id=user):
            result = call.result if isinstance(call.result, dict) else {}
            rows = (call.params.get("reply_markup") or {}).get("inline_keyboard") or []
            if call.ok and rows and (user, result.get("message_id")) not in self.world.pressed:
                found.append(call)
        return found


#: log events about a job written by a worker that is not running its step
_NOT_THE_STEP = tuple(f'"event": "{e}"'.encode() for e in (
    "approval_answered", "job_accepted", "prompt_already_taken", "foreign_button", "job_step_deferred",
    "job_recovered"))


class _Mentions:
    """Which worker last wrote a log line of the job's step (read from the workers' logs
    as they grow): the one running it, or the one that ran its last step."""

    def __init__(self, world: BotWorld, job_id: str) -> None:
        self.world, self.needle = world, job_id.encode()
        self.offsets: dict[Path, int] = {}
        self.last: dict[int, float] = {}  # host -> when a line about the job was last seen

    def sample(self) -> None:
        for host, proc in enumerate(self.world.workers):
            log = self.world.log_of(proc)
            start = self.offsets.get(log, 0)
            try:
                with open(log, "rb") as handle:
                    handle.seek(start)
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            whole = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for next time
            self.offsets[log] = start + len(whole)
            if any(self.needle in line and not any(e in line for e in _NOT_THE_STEP)
                   for line in whole.splitlines()):
                self.last[host] = time.monotonic()

    def latest(self) -> int | None:
        return max(self.last, key=self.last.get) if self.last else None

    def replaced(self, host: int) -> None:
        self.last.pop(host, None)


class _LockWatch:
    """Notices a job step running on after its ``JobLock`` expired: the job is in
    ``storyreel:running`` and its lock key is gone although the worker that took it
    last is alive (a lock left by the killed worker lapsing is expected, not counted)."""

    def __init__(self, r: redis.Redis, job_id: str) -> None:
        self.redis, self.job_id = r, job_id
        self.live: str | None = None  # the token of the holder believed alive
        self.dead: str | None = None  # the token the killed worker held
        self.lapsed = False

    def sample(self) -> None:
        pipe = self.redis.pipeline()
        pipe.get(f"storyreel:lock:{self.job_id}")
        pipe.sismember("storyreel:running", self.job_id)
        token, running = pipe.execute()
        if token and token != self.dead:
            self.live = token
        elif not token and running and self.live is not None:
            self.lapsed = True

    def holder_died(self) -> None:
        self.dead = self.redis.get(f"storyreel:lock:{self.job_id}")
        self.live = None


def _stranded(r: redis.Redis) -> list[str]:
    """The broker messages a worker took and never acknowledged, but for the approval
    timeouts (ETA tasks a live worker holds by design). Kombu's Redis transport keeps them
    in ``unacked`` until its visibility timeout hands them out again."""
    out = []
    for raw in r.hgetall("unacked").values():
        payload = json.loads(raw)[0]
        headers = payload.get("headers") or {}
        task = headers.get("task", "?")
        if task == "storyreel.approval_timeout":
            continue
        what = headers.get("argsrepr", "")
        if task == "storyreel.handle_update":
            try:
                update = json.loads(base64.b64decode(payload["body"]))[0][0]
                what = (update.get("callback_query") or {}).get("data") or (update.get("message") or {}).get("text")
            except (KeyError, IndexError, TypeError, ValueError):
                pass
        out.append(f"{task}({what})")
    return out


def _task_ids(job: dict) -> set[str]:
    ids = {s.get(k) for s in job.get("segments", []) for k in ("picture_task_id", "clip_task_id")}
    ids |= {c.get("task_id") for c in job.get("costs", [])}
    return {i for i in ids if i}


def _progress(job: dict) -> str:
    segs = job.get("segments", [])
    pictures = sum(1 for s in segs if s.get("picture_path"))
    clips = sum(1 for s in segs if s.get("clip_path"))
    narration = "yes" if job.get("narration_path") else "no"
    return f"pictures {pictures}/{len(segs)}, clips {clips}/{len(segs)}, narration {narration}"


def _content(call) -> tuple:
    """What the user sees of one send: its text, caption or the kinds of its album."""
    if call.method == "sendMediaGroup":
        return call.method, tuple(m.get("type") for m in call.params.get("media") or [])
    return call.method, call.params.get("text") or call.params.get("caption") or ""


def _quiet_resets(*fakes) -> None:
    """A killed worker resets its open connections to the fakes: expected here, so not
    printed as a traceback (any other error in a fake's handler still is)."""
    for fake in fakes:
        def handle_error(request, address, default=fake.httpd.handle_error) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):
                default(request, address)
        fake.httpd.handle_error = handle_error


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _line(r: JobResult) -> str:
    kill = (f"kill @{r.kill_at:5.2f}s in {r.kill_stage} ({r.kill_detail})" if r.kill_stage
            else f"no kill (video before {r.kill_at:.2f}s)" if r.kill_at is not None else "no kill (calibration)")
    video = f"video {r.video_after:5.1f}s" if r.completed else "NO VIDEO"
    paid = " ".join(f"{k} +{v}" for k, v in r.dup_paid.items() if v) or "0"
    extra = [f"lost creates {r.lost_creates} ms before kill"] if r.lost_creates else []
    extra += [f"re-spoken {r.respoken}"] if r.respoken else []
    extra += [f"dup msgs {r.dup_messages}"] if r.dup_messages else []
    extra += [f"leftover {r.leftover}"] if r.leftover else []
    extra += [f"{len(r.elsewhere)} folder(s) on the other host"] if r.elsewhere else []
    if r.kill_stage:
        moved = f"{r.recovery:.1f}s" if r.recovery is not None else "never"
        extra.insert(0, f"host {r.kill_host} killed {'mid-step' if r.hit_step else 'between steps'}, "
                        f"moved again after {moved}")
    extra += ["step outlived its lock"] if r.lock_lapsed else []
    return (f"job {r.n:2d}  {'ok  ' if r.clean else 'FAIL'}  {video}  {kill}  status {r.status}  "
            f"dup paid {paid}  " + "  ".join(extra + r.notes))


def _summary(results: list[JobResult]) -> None:
    total = len(results)
    lost = sum(len(r.lost_creates) for r in results)
    paid = collections.Counter()
    for r in results:
        paid.update(r.dup_paid)
    runway_dups = paid["pictures"] + paid["clips"]
    stages = collections.Counter(r.kill_stage or "none (video first)" for r in results)
    print("\nsummary")
    print(f"  jobs completed          {sum(r.completed and r.status == 'done' for r in results)}/{total}")
    print(f"  duplicate paid calls    {runway_dups - lost + paid['scripts']}"
          f"  (Runway pictures +{paid['pictures']}, clips +{paid['clips']}, OpenAI scripts +{paid['scripts']};"
          f" of the Runway ones, {lost} lost in the create->record window, counted apart)")
    print(f"  lost-window creates     {lost}")
    print(f"  narration re-spoken     {sum(r.respoken for r in results)}  (TTS calls in flight at the kill)")
    print(f"  duplicate messages      {sum(len(r.dup_messages) for r in results)}")
    print(f"  leftover job folders    {sum(len(r.leftover) for r in results)}  (on the host that delivered; "
          f"{sum(len(r.elsewhere) for r in results)} more on the other host, from earlier steps: the hourly "
          f"cleanup's)")
    killed = [r for r in results if r.kill_stage]
    moved = [r.recovery for r in killed if r.recovery is not None]
    # a dead holder's lock cannot lapse within a third of its life: a job that moved that
    # soon was not stopped by the kill (its step ran on the other worker, or had ended)
    soon = float(RECOVERY["JOB_LOCK_SECONDS"]) / 3
    stopped = [v for v in moved if v >= soon]
    print(f"  recovery (kill -> moves) {_percentiles(stopped)} over the {len(stopped)} kills that stopped the job"
          f"  (all {len(moved)}: {_percentiles(moved)}"
          f"{f'; {len(killed) - len(moved)} never moved' if len(killed) > len(moved) else ''})")
    print(f"  steps outliving a lock  {sum(r.lock_lapsed for r in results)} jobs  (JobLock expired under a live step)")
    print("  kills per stage         " + ", ".join(f"{k} {v}" for k, v in sorted(stages.items())))


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered) + 0.5) - 1))]  # nearest rank
    return f"p50 {statistics.median(ordered):.1f} s, p95 {p95:.1f} s, worst {ordered[-1]:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2, help="worker processes, each a host with its own WORK_DIR")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds from script approval to the video")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs) even when all is well")
    args = parser.parse_args(argv)

    db = redis.Redis.from_url(f"redis://127.0.0.1:6379/{DB}")
    try:
        keys = db.dbsize()
    except redis.exceptions.ConnectionError as exc:
        print(f"Redis on 127.0.0.1:6379 is not reachable: {exc}", file=sys.stderr)
        return 2
    if keys:
        print(f"Redis database {DB} holds {keys} keys: refusing to flush it; empty it or pick another",
              file=sys.stderr)
        return 2

    configure_logging("console", "WARNING")  # the fakes' FFmpeg runs log at debug: not figures
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="storyreel-reliability-"))
    results: list[JobResult] = []
    ok = False
    try:
        with FakeOpenAI() as openai_fake, \
                FakeRunway(picture_latency=0.4, clip_latency=0.8, concurrency=RUNWAY_CAPACITY,
                           media_short_side=90) as runway_fake, \
                BotWorld(tmp, db=DB, workers=args.workers, OPENAI_API_KEY=OPENAI_KEY,
                         OPENAI_BASE_URL=f"{openai_fake.url}/v1", RUNWAY_API_KEY=runway_fake.api_key,
                         RUNWAYML_BASE_URL=runway_fake.url, **SETTINGS) as world:
            _quiet_resets(openai_fake, runway_fake, world.tg)
            bench = Bench(openai_fake, runway_fake, world, args.timeout)
            started = time.monotonic()
            calibration = bench.run_job(0, 9300, None)
            print(_line(calibration), flush=True)
            if not calibration.clean:
                print(f"the undisturbed job failed: see the logs in {tmp}")
                return 1
            span = calibration.video_after
            print(f"expected duration D = {span:.2f} s (script approval -> video); kill moments ~ U(0, D), "
                  f"seed {args.seed}\n", flush=True)
            moments = [rng.uniform(0, span) for _ in range(args.jobs)]
            for n, at in enumerate(moments, 1):
                results.append(bench.run_job(n, 9300 + n, at))
                print(_line(results[-1]), flush=True)
            _summary(results)
            peaks = ", ".join(f"{model} {runway_fake.peak(model)} ({runway_fake.peak(model, queued=True)} open)"
                              for model in MODELS)
            print(f"  most Runway tasks running at once  {peaks}  (limit {SETTINGS['CONCURRENCY']} per model "
                  f"across {args.workers} workers; the fake would run {RUNWAY_CAPACITY})")
            print(f"  settings                {', '.join(f'{k}={v}' for k, v in RECOVERY.items())}, "
                  f"{args.workers} workers")
            print(f"  wall time               {time.monotonic() - started:.0f} s")
            ok = all(r.clean for r in results)
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"\nrun folder kept (worker*.log, web.log, work/): {tmp}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
