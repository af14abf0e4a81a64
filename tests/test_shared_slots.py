"""Per-model limits held by every worker together (``storyreel.bot.slots.RedisSlots``).

On the real Redis (database 5, flushed before and after): the limit holds across two
"processes" (two ``RedisSlots``), a lease is renewed while its call runs, a process
killed with SIGKILL lets go of its slots within the lease time, and providers that run
on this machine keep this process's slots. Then the whole bot with two worker processes
(separate WORK_DIRs, as on two hosts) against one fake Runway that would run any number
of tasks: never more than 3 clips or pictures at once.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time

import pytest
import redis

from storyreel.bot.slots import RedisSlots
from storyreel.pipeline.capacity import PROCESS_SLOTS, Capacity
from storyreel.providers.local.motion import KenBurnsAnimator
from storyreel.settings import Settings
from tests.botworld import ROOT, BotWorld
from tests.fakes.openai_server import DEFAULT_KEY as OPENAI_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.runway_server import FakeRunway

URL = "redis://127.0.0.1:6379/5"


@pytest.fixture
def r():
    client = redis.Redis.from_url(URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


def test_the_limit_holds_across_processes_and_a_release_frees_a_slot(r):
    a, b = RedisSlots(r, ttl=5), RedisSlots(r, ttl=5)
    held = [a.try_acquire("gen4_turbo", 3), b.try_acquire("gen4_turbo", 3), a.try_acquire("gen4_turbo", 3)]
    assert all(held)
    assert b.try_acquire("gen4_turbo", 3) is None and a.try_acquire("gen4_turbo", 3) is None
    image = b.try_acquire("gen4_image", 3)
    assert image is not None, "each model has its own slots"
    held[0].release()
    held[0].release()  # a second release gives nothing back twice
    again = b.try_acquire("gen4_turbo", 3)
    assert again is not None
    assert b.try_acquire("gen4_turbo", 3) is None
    assert r.zcard("storyreel:slots:gen4_turbo") == 3
    for lease in (*held, again, image):
        lease.release()
    assert r.zcard("storyreel:slots:gen4_turbo") == 0 and a.held() == b.held() == 0


def test_a_lease_is_renewed_while_its_call_runs(r):
    slots = RedisSlots(r, ttl=0.6)
    lease = slots.try_acquire("gen4_turbo", 1)
    time.sleep(2.0)  # more than three lease lives
    assert RedisSlots(r, ttl=0.6).try_acquire("gen4_turbo", 1) is None, "the renewed lease still holds the slot"
    lease.release()
    other = RedisSlots(r, ttl=0.6).try_acquire("gen4_turbo", 1)
    assert other is not None
    other.release()


_HOLDER = textwrap.dedent("""
    import sys, time, redis
    from storyreel.bot.slots import RedisSlots
    slots = RedisSlots(redis.Redis.from_url(sys.argv[1], decode_responses=True), ttl=float(sys.argv[2]))
    assert all(slots.try_acquire("gen4_turbo", 3) for _ in range(3))
    print("held", flush=True)
    time.sleep(600)
""")


def test_a_killed_holder_lets_go_within_the_lease_time(r):
    ttl = 1.5
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, URL, str(ttl)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        mine = RedisSlots(r, ttl=ttl)
        time.sleep(ttl)  # its renewals keep the slots while it lives
        assert mine.try_acquire("gen4_turbo", 3) is None
        proc.kill()
        proc.wait(timeout=10)
        killed = time.monotonic()
        while (lease := mine.try_acquire("gen4_turbo", 3)) is None:
            assert time.monotonic() - killed < ttl + 0.5, "a dead holder's slots never lapsed"
            time.sleep(0.02)
        lease.release()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_providers_that_run_here_keep_this_process_s_slots(r):
    shared = RedisSlots(r, ttl=5)
    capacity = Capacity(Settings(_env_file=None, concurrency=2), shared)
    motion = KenBurnsAnimator()
    motion.concurrency = 2  # as the factory sets it: a CPU-bound limit of this machine
    assert capacity.for_provider(motion).slots is PROCESS_SLOTS

    class Cloud:
        name, model = "runway", "gen4_turbo"

    slots = capacity.for_provider(Cloud())
    assert slots.slots is shared and slots.limit == 2 and slots.model == "gen4_turbo"


# ---- two workers, one Runway account --------------------------------------------------
_users = itertools.count(9501)


@pytest.mark.timeout(600)
def test_two_workers_never_run_more_than_the_limit_against_one_runway(tmp_path):
    # the fake would run 20 tasks of a model at once: any limit seen is ours. One task at a
    # time per worker: while one runs a job's step, the next step goes to the other
    with FakeOpenAI() as openai_fake, \
            FakeRunway(picture_latency=0.3, clip_latency=0.6, concurrency=20, media_short_side=90) as runway_fake, \
            BotWorld(tmp_path, db=4, workers=2, threads=1, SEGMENT_COUNT="8", SEGMENT_SECONDS="1",
                     MODEL_CONCURRENCY='{"gen4_turbo": 3, "gen4_image": 3}', CONCURRENCY="3",
                     OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=f"{openai_fake.url}/v1",
                     RUNWAY_API_KEY=runway_fake.api_key, RUNWAYML_BASE_URL=runway_fake.url,
                     POLL_INTERVAL="0.05", TASK_TIMEOUT="60", CLIPS_DURING_REVIEW="true",
                     MIN_FREE_DISK_MB="0") as world:
        users = [next(_users) for _ in range(4)]
        for user in users:
            world.say(user, f"A video about the history of coffee, part {user}")
        pressed: set[int] = set()
        deadline = time.monotonic() + 240
        while len(pressed) < len(users):
            assert time.monotonic() < deadline, "not every video came"
            for user in users:
                for kind in "spc":  # every question answered as it shows
                    try:
                        world.press(user, world.wait_buttons(user, kind, timeout=0.05))
                    except AssertionError:
                        pass
                if user not in pressed and any(c.ok for c in world.tg.calls("sendVideo", chat_id=user)):
                    pressed.add(user)
            time.sleep(0.05)

        assert runway_fake.creates("gen4_turbo") == 8 * len(users)
        assert runway_fake.peak("gen4_turbo", queued=True) == 3, "clips: never more than 3 at once, and 3 used"
        assert runway_fake.peak("gen4_image", queued=True) <= 3
        made = [world.log_of(w).read_text(errors="replace").count('"runway_task_created"') for w in world.workers]
        assert all(made), f"both workers made Runway tasks (per worker: {made})"
        assert world.redis.zcard("storyreel:slots:gen4_turbo") == 0, "every slot given back"
