"""Shared test helpers: run the real CLI in a subprocess, read videos with PyAV."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings as hypothesis_settings

# this machine is shared and noisy: no per-example deadlines; in CI, a fixed seed so a
# run is repeatable (locally the search stays random and keeps finding new cases)
hypothesis_settings.register_profile("default", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "default")

from storyreel.media.probe import audio_samples, probe, video_frame_at

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def run_cli(args: list[str], *, work_dir: Path, input: str | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``storyreel ARGS`` in a fresh process, with its own work folder and no .env."""
    full_env = {k: v for k, v in os.environ.items() if k not in {"FFMPEG_BINARY"}}
    # the model-date cache goes beside the work folder, not into the developer's ~/.cache
    full_env.update({"WORK_DIR": str(work_dir), "PYTHONUNBUFFERED": "1",
                     "XDG_CACHE_HOME": str(work_dir.parent / "cache")})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "storyreel.cli", *args],
        input=input if input is not None else "",
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=work_dir.parent,
    )


def leftovers(work_dir: Path) -> list[Path]:
    return sorted(work_dir.rglob("*")) if work_dir.exists() else []


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0


def segment_frames(path: Path, count: int, seconds: float) -> list[np.ndarray]:
    """The frame in the middle of each segment."""
    return [video_frame_at(path, (i + 0.5) * seconds).astype(np.int16) for i in range(count)]


__all__ = ["run_cli", "leftovers", "rms", "segment_frames", "probe", "audio_samples", "ROOT"]


@pytest.fixture
def openai_server(monkeypatch):
    """A fake OpenAI on loopback, with the developer's OpenAI variables kept out (the SDK
    reads them itself)."""
    from tests.fakes.openai_server import FakeOpenAI

    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_CUSTOM_HEADERS", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
                 "OPENAI_SPEECH_BASE_URL", "OPENAI_SPEECH_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAI() as server:
        yield server


def fresh_redis(url: str, *, decode_responses: bool = False):
    """A client for the test's own Redis database, emptied; the test is skipped when no
    Redis answers. The caller empties and closes it afterwards (``close_redis``)."""
    import redis as redis_lib

    client = redis_lib.Redis.from_url(url, decode_responses=decode_responses)
    try:
        client.ping()
    except redis_lib.ConnectionError:
        pytest.skip("these tests need Redis on 127.0.0.1:6379")
    client.flushdb()
    return client


def close_redis(client) -> None:
    """Empty the test's database and close the client."""
    client.flushdb()
    client.close()


@pytest.fixture
def captured_logs():
    """The structured log as JSON lines in a string buffer, for the duration of a test."""
    import io

    import structlog

    from storyreel.log import configure_logging

    saved = structlog.get_config()
    stream = io.StringIO()
    configure_logging(fmt="json", level="DEBUG", stream=stream)
    try:
        yield stream
    finally:
        structlog.configure(**saved)


@pytest.fixture
def bot_api(request):
    """For the bot's end-to-end modules (``pytest.mark.usefixtures("bot_api")``): no Bot
    API call of a scenario fails but those it provokes (``bot_api.allow``). The module's
    ``world`` is watched, and each world a test makes can be (``bot_api.watch``)."""
    from tests.botworld import BotApiCheck

    check = BotApiCheck()
    if "world" in request.fixturenames:
        check.watch(request.getfixturevalue("world"))
    yield check
    check.check()
