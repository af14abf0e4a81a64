"""``storyreel make`` leaves nothing behind but the video and its ``.srt``: its job folders
live in the user's cache folder (``platformdirs``), or in WORK_DIR when that is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storyreel.cli.make import command_line_work_dir
from storyreel.settings import Settings

ARGS = ["make", "a video about tides", "--segments", "2", "--seconds", "1", "--resolution", "90", "--yes"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "RUNWAY", "PROVIDERS", "WORK_DIR", "XDG_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), **extra)
    return env


def _make(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "storyreel.cli", *ARGS], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG cache convention is Linux's")
def test_make_leaves_only_the_video_and_its_subtitles(tmp_path: Path):
    here, home = tmp_path / "here", tmp_path / "home"
    here.mkdir()
    home.mkdir()
    done = _make(here, _env(home))
    assert done.returncode == 0, done.stderr[-2000:]
    video = Path(done.stdout.strip().splitlines()[-1])
    assert sorted(p.name for p in here.iterdir()) == sorted([video.name, video.with_suffix(".srt").name])
    work = home / ".cache" / "storyreel" / "work"
    assert work.is_dir() and list(work.iterdir()) == [], "the job folder was made in the cache, then deleted"


def test_work_dir_when_set_is_used(tmp_path: Path):
    here, home, work = tmp_path / "here", tmp_path / "home", tmp_path / "mine"
    here.mkdir()
    home.mkdir()
    done = _make(here, _env(home, WORK_DIR=str(work)))
    assert done.returncode == 0, done.stderr[-2000:]
    assert work.is_dir() and list(work.iterdir()) == []
    assert not (home / ".cache" / "storyreel" / "work").exists()
    assert len(list(here.iterdir())) == 2


def test_the_command_line_s_work_dir(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("WORK_DIR", raising=False)
    if sys.platform == "linux":
        assert command_line_work_dir(Settings(_env_file=None)) == tmp_path / "cache" / "storyreel" / "work"
    assert command_line_work_dir(Settings(_env_file=None, work_dir=tmp_path / "w")) == tmp_path / "w"
    monkeypatch.setenv("WORK_DIR", str(tmp_path / "env"))
    assert command_line_work_dir(Settings(_env_file=None)) == tmp_path / "env"
