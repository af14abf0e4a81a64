"""Whole offline jobs through the real CLI: a real video comes out, checked with PyAV."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import audio_samples, leftovers, probe, rms, run_cli, segment_frames

SMALL = ["--segments", "4", "--seconds", "1", "--resolution", "180"]


def _check_video(path: Path, *, segments: int = 4, seconds: float = 1.0, size=(320, 180)):
    info = probe(path)
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.audio_codec == "aac"
    assert (info.width, info.height) == size
    assert abs(info.duration - segments * seconds) <= 0.1, info.duration
    assert rms(audio_samples(path)) > 0.01, "the narration is silent"
    frames = segment_frames(path, segments, seconds)
    for a, b in zip(frames, frames[1:]):
        assert np.abs(a - b).mean() > 10, "neighbouring segments show the same picture"
    return info


def test_english_prompt_makes_a_video(work_dir, tmp_path):
    out = tmp_path / "coffee.mp4"
    result = run_cli(["make", "a video about the history of coffee", "--yes", "--out", str(out), *SMALL],
                     work_dir=work_dir)
    assert result.returncode == 0, result.stderr
    _check_video(out)
    srt = out.with_suffix(".srt").read_text(encoding="utf-8")
    assert "-->" in srt and "coffee" in srt.lower()
    assert result.stdout.strip() == str(out.resolve())
    assert "Wall time" in result.stderr
    assert leftovers(work_dir) == [], "the job folder must be deleted after delivery"


def test_russian_prompt_makes_a_russian_video(work_dir, tmp_path):
    out = tmp_path / "kofe.mp4"
    result = run_cli(["make", "Видео про историю кофе", "--yes", "--out", str(out),
                      "--segments", "4", "--seconds", "2", "--resolution", "180"], work_dir=work_dir)
    assert result.returncode == 0, result.stderr
    _check_video(out, seconds=2.0)
    srt = out.with_suffix(".srt").read_text(encoding="utf-8")
    assert any("\u0400" <= ch <= "\u04ff" for ch in srt)
    assert "Script (ru" in result.stderr
    assert leftovers(work_dir) == []


def test_script_file_is_used_word_for_word(work_dir, tmp_path):
    script = tmp_path / "script.txt"
    text = "Bees dance to share news. Their dance points to flowers. The hive listens. Honey follows."
    script.write_text(text, encoding="utf-8")
    out = tmp_path / "bees.mp4"
    result = run_cli(["make", "--script", str(script), "--yes", "--out", str(out), *SMALL], work_dir=work_dir)
    assert result.returncode == 0, result.stderr
    _check_video(out)
    cues = [line for line in out.with_suffix(".srt").read_text(encoding="utf-8").splitlines()
            if line and "-->" not in line and not line.isdigit()]
    assert " ".join(cues).split() == text.split()


def test_portrait_with_subtitles_and_music(work_dir, tmp_path):
    music = tmp_path / "music.wav"
    from storyreel.media.narration import RATE, write_wav

    t = np.arange(RATE * 2) / RATE
    write_wav(0.3 * np.sin(2 * np.pi * 330 * t), music)
    out = tmp_path / "short.mp4"
    result = run_cli(["make", "a video about tides", "--yes", "--out", str(out), "--aspect", "9:16",
                      "--subtitles", "--music", str(music), *SMALL], work_dir=work_dir)
    assert result.returncode == 0, result.stderr
    _check_video(out, size=(180, 320))


@pytest.mark.parametrize("answers", ["n\n", "y\nn\n", "y\ny\nn\n"], ids=["script", "pictures", "clips"])
def test_no_at_any_approval_cancels_and_deletes_everything(work_dir, tmp_path, answers):
    out = tmp_path / "never.mp4"
    result = run_cli(["make", "a video about rain", "--out", str(out), *SMALL], work_dir=work_dir, input=answers)
    assert result.returncode == 1
    assert "Cancelled" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not out.with_suffix(".srt").exists()
    assert leftovers(work_dir) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_end_of_input_counts_as_no(work_dir, tmp_path):
    result = run_cli(["make", "a video about snow", "--out", str(tmp_path / "x.mp4"), *SMALL], work_dir=work_dir)
    assert result.returncode == 1 and leftovers(work_dir) == []


def test_yes_at_every_approval_without_flag(work_dir, tmp_path):
    out = tmp_path / "ok.mp4"
    result = run_cli(["make", "a video about wind", "--out", str(out), *SMALL], work_dir=work_dir,
                     input="y\ny\ny\n")
    assert result.returncode == 0, result.stderr
    assert "preview_pictures.png" in result.stderr
    assert out.exists() and leftovers(work_dir) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_mid_stage_stops_and_leaves_nothing(work_dir, tmp_path, sig):
    out = tmp_path / "never.mp4"
    env = {k: v for k, v in os.environ.items() if k != "FFMPEG_BINARY"}
    env.update({"WORK_DIR": str(work_dir), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "storyreel.cli", "make", "a video about storms", "--yes", "--out", str(out),
         "--segments", "40", "--seconds", "2", "--resolution", "360"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    deadline = time.monotonic() + 120
    while not any(True for _ in work_dir.glob("*/clips/*.mp4")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    assert leftovers(work_dir) == [], "no job folder and no half-written clip may remain"
    assert not out.exists()


def _voice_note(tmp_path: Path, text: str, language: str = "en") -> Path:
    """A Telegram-style voice note (Ogg/Opus) of ``text``, spoken by the offline narrator."""
    from storyreel.media.ffmpeg import run_ffmpeg
    from storyreel.providers.local.speech import EspeakNarrator

    wav = EspeakNarrator(rate_wpm=130).speak(text, tmp_path / "note.wav", language=language)
    ogg = tmp_path / "note.ogg"
    run_ffmpeg(["-i", wav, "-c:a", "libopus", "-b:a", "32k", ogg])
    wav.unlink()
    return ogg


def test_voice_prompt_is_transcribed_shown_and_used(work_dir, tmp_path):
    note = _voice_note(tmp_path, "Once upon a time there was a little girl.")
    out = tmp_path / "voice.mp4"
    result = run_cli(["make", "--voice", str(note), "--yes", "--out", str(out), *SMALL], work_dir=work_dir)
    assert result.returncode == 0, result.stderr
    heard = next(line for line in result.stderr.splitlines() if line.startswith("I heard: "))
    assert {"time", "little", "girl"} & set(heard.lower().split())
    assert "Script (en" in result.stderr
    _check_video(out)
    assert leftovers(work_dir) == []


def test_voice_prompt_in_russian_is_refused_offline(work_dir, tmp_path):
    note = _voice_note(tmp_path, "Жила-была девочка.", language="ru")
    result = run_cli(["make", "--voice", str(note), "--lang", "ru", "--yes", "--out", str(tmp_path / "x.mp4"),
                      *SMALL], work_dir=work_dir)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "storyreel: That language is not available offline; set an OpenAI key to use it."]
    assert leftovers(work_dir) == []


@pytest.mark.parametrize("content", [None, b"not audio at all"], ids=["missing", "garbage"])
def test_unreadable_voice_file(work_dir, tmp_path, content):
    note = tmp_path / "note.ogg"
    if content is not None:
        note.write_bytes(content)
    result = run_cli(["make", "--voice", str(note), "--yes", "--out", str(tmp_path / "x.mp4"), *SMALL],
                     work_dir=work_dir)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "storyreel: The voice message cannot be read. Please record it again."]
    assert leftovers(work_dir) == []


def test_each_segments_words_are_heard_while_its_picture_is_on_screen(work_dir, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("Red sky. Green hills. Blue sea. White snow.", encoding="utf-8")
    out = tmp_path / "sync.mp4"
    result = run_cli(["make", "--script", str(script), "--yes", "--out", str(out),
                      "--segments", "4", "--seconds", "2", "--resolution", "180"], work_dir=work_dir)
    assert result.returncode == 0, result.stderr
    rate = 16000
    track = audio_samples(out, rate=rate)
    win = rate // 100
    env = np.sqrt((track[: len(track) // win * win].reshape(-1, win) ** 2).mean(axis=1))
    loud = env > 0.02
    for i in range(4):
        window = loud[i * 200:(i + 1) * 200]  # 10 ms steps, 2 s per segment
        assert window.any(), f"segment {i} is silent"
        onset = np.argmax(window) / 100
        assert onset < 0.3, f"segment {i}'s speech starts {onset:.2f}s after its picture"
    starts = [line.split(" --> ")[0] for line in out.with_suffix(".srt").read_text().splitlines() if "-->" in line]
    assert starts == ["00:00:00,000", "00:00:02,000", "00:00:04,000", "00:00:06,000"]
