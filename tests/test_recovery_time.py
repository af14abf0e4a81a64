"""How soon a job moves again after its worker is SIGKILLed mid-step.

The real bot (gunicorn, Celery, Redis) on the fake OpenAI and Runway servers, with the
production recovery settings: with beat, the dead worker's lock lapses within
``JOB_LOCK_SECONDS`` and the next ``recover`` sweep (every ``RECOVER_SECONDS``) restarts
the job: within 20 s. Without beat, the broker hands the dead worker's step out again
after the visibility timeout (20 s here), and the job moves then.

"Moves" is the first request to the fake Runway after the kill (the resumed step polls
the clips the dead worker had asked for).
"""

from __future__ import annotations

import itertools
import time

import pytest

from storyreel.settings import Settings
from tests.botworld import BotWorld
from tests.fakes.openai_server import DEFAULT_KEY as OPENAI_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.runway_server import FakeRunway

pytestmark = pytest.mark.timeout(600)

_users = itertools.count(9601)
DEFAULTS = {name: str(Settings.model_fields[name.lower()].default)
            for name in ("JOB_LOCK_SECONDS", "RECOVER_SECONDS", "BROKER_VISIBILITY_SECONDS")}


def _kill_mid_step_and_time_recovery(world: BotWorld, runway: FakeRunway) -> float:
    user = next(_users)
    world.say(user, "A video about the history of coffee")
    world.press(user, world.wait_buttons(user, "s"))
    world.press(user, world.wait_buttons(user, "p"))
    job_id = next(iter(world.job_ids()))
    deadline = time.monotonic() + 60
    while not any(s.get("clip_task_id") for s in world.job(job_id)["segments"]):
        assert time.monotonic() < deadline, "no clip was asked for"
        time.sleep(0.02)
    assert world.redis.exists(f"storyreel:lock:{job_id}"), "the step is running"
    world.kill_worker()
    killed = time.time()
    world.start_worker()
    deadline = time.monotonic() + 180
    while True:
        moved = [r.at for r in list(runway.calls) if r.at > killed + 0.2]
        if moved:
            break
        assert time.monotonic() < deadline, "the job never moved again"
        time.sleep(0.05)
    world.press(user, world.wait_buttons(user, "c", timeout=120))
    world.tg.wait_for(lambda c: c.method == "sendVideo" and c.ok and str(c.params["chat_id"]) == str(user),
                      timeout=180)
    return min(moved) - killed


def _world(tmp_path, openai_fake, runway_fake, **settings) -> BotWorld:
    return BotWorld(tmp_path, db=3, SEGMENT_COUNT="8", SEGMENT_SECONDS="1", OPENAI_API_KEY=OPENAI_KEY,
                    OPENAI_BASE_URL=f"{openai_fake.url}/v1", RUNWAY_API_KEY=runway_fake.api_key,
                    RUNWAYML_BASE_URL=runway_fake.url, POLL_INTERVAL="0.05", TASK_TIMEOUT="60",
                    MIN_FREE_DISK_MB="0", **settings)


@pytest.fixture
def fakes():
    # clips of 4 s: the step is still waiting for them when the kill lands
    with FakeOpenAI() as openai_fake, FakeRunway(picture_latency=0.2, clip_latency=4.0, concurrency=3,
                                                 media_short_side=90) as runway_fake:
        yield openai_fake, runway_fake


def test_with_beat_a_dead_worker_s_job_moves_again_within_20_seconds(tmp_path, fakes):
    assert float(DEFAULTS["JOB_LOCK_SECONDS"]) + float(DEFAULTS["RECOVER_SECONDS"]) <= 20
    with _world(tmp_path, *fakes, **DEFAULTS) as world:
        recovery = _kill_mid_step_and_time_recovery(world, fakes[1])
    assert recovery < 20, f"moved again after {recovery:.1f} s"


def test_without_beat_it_moves_again_within_the_visibility_timeout(tmp_path, fakes):
    visibility = 20.0
    with _world(tmp_path, *fakes, beat=False, **{**DEFAULTS, "BROKER_VISIBILITY_SECONDS": f"{visibility:g}"}) as world:
        recovery = _kill_mid_step_and_time_recovery(world, fakes[1])
    # the broker looks for unacknowledged tasks every quarter of the timeout
    assert recovery < visibility * 1.25 + 2, f"moved again after {recovery:.1f} s"
