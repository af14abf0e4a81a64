"""Changing a video at the terminal's gates, and the per-video choices of ``storyreel make``:
offline jobs through the real CLI, answered on its standard input."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from PIL import Image

from conftest import leftovers, probe, run_cli
from storyreel.providers.local.speech import ESPEAK_VOICES

SMALL = ["--segments", "6", "--seconds", "1", "--resolution", "180"]
SCRIPT_QUESTION = "Approve the script?"
PICTURES_QUESTION = "Approve the pictures?"


def _make(tmp_path: Path, work_dir: Path, answers: str, *extra: str, env: dict | None = None):
    out = tmp_path / "out.mp4"
    result = run_cli(["make", "a video about owls", "--out", str(out), *SMALL, *extra], work_dir=work_dir,
                     input=answers, env=env)
    return result, out


def _subtitles(out: Path) -> str:
    return out.with_suffix(".srt").read_text(encoding="utf-8").lower()


def _one_line_error(result, expected: str):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("storyreel: ") and expected.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.stderr


# ---- the script gate -------------------------------------------------------------------
def test_a_note_for_the_writer_shows_the_revised_script_and_the_job_goes_on(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "make it about night owls\ny\ny\ny\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(SCRIPT_QUESTION) == 2
    assert "Revised script" in result.stderr
    assert "night owls" in _subtitles(out)
    assert leftovers(work_dir) == []


def test_new_words_for_one_segment(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "3: lighthouses glow\ny\ny\ny\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(SCRIPT_QUESTION) == 2
    assert "lighthouses glow" in _subtitles(out)


def test_a_segment_number_out_of_range_is_explained_and_asked_again(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "9: nine\ny\ny\ny\n")
    assert result.returncode == 0, result.stderr
    assert "There is no number 9: the numbers go from 1 to 6." in result.stderr
    assert result.stderr.count(SCRIPT_QUESTION) == 2
    assert "Revised script" not in result.stderr


def test_a_revision_past_the_limit_is_refused_and_asked_again(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "make it about night owls\ny\ny\ny\n",
                        env={"MAX_SCRIPT_REVISIONS": "0"})
    assert result.returncode == 0, result.stderr
    assert "This script has had its 0 revisions" in result.stderr
    assert "Revised script" not in result.stderr
    assert "night" not in _subtitles(out)


def _editor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_e_edits_the_whole_script_in_the_editor(work_dir, tmp_path):
    editor = _editor(tmp_path, "printf 'Owls glide in silent flight over frozen fields at midnight.\\n' > \"$1\"")
    result, out = _make(tmp_path, work_dir, "e\ny\ny\ny\n", env={"EDITOR": editor, "VISUAL": editor})
    assert result.returncode == 0, result.stderr
    assert "Revised script" in result.stderr
    words = " ".join(line for line in _subtitles(out).splitlines() if line and not line[0].isdigit())
    assert words == "owls glide in silent flight over frozen fields at midnight."


def test_e_with_the_script_unchanged_asks_again(work_dir, tmp_path):
    editor = _editor(tmp_path, "exit 0")  # closes without saving
    result, out = _make(tmp_path, work_dir, "e\ny\ny\ny\n", env={"EDITOR": editor, "VISUAL": editor})
    assert result.returncode == 0, result.stderr
    assert "The script is unchanged." in result.stderr
    assert result.stderr.count(SCRIPT_QUESTION) == 2
    assert "Revised script" not in result.stderr


# ---- the pictures gate -----------------------------------------------------------------
def test_numbers_at_the_pictures_gate_redo_those_pictures(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "y\n2, 4\ny\ny\n", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(PICTURES_QUESTION) == 2
    assert "Redone: 2, 4: " in result.stderr
    assert "preview_pictures_1.png" in result.stderr
    applied = [line for line in result.stderr.splitlines() if "edit_applied" in line]
    assert len(applied) == 1 and "pictures" in applied[0], applied
    assert probe(out).duration == pytest.approx(6, abs=0.1)
    assert leftovers(work_dir) == []


def test_a_bad_picture_number_is_explained_and_asked_again(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "y\n17\nredo 3\ny\ny\n")
    assert result.returncode == 0, result.stderr
    assert "There is no number 17: the numbers go from 1 to 6." in result.stderr
    assert result.stderr.count(PICTURES_QUESTION) == 3  # the first, after the bad number, after the redo
    assert "Redone: 3: " in result.stderr


def test_a_reply_that_is_no_redo_is_explained(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "y\nmore colour please\nn\n")
    assert result.returncode == 1
    assert "I did not understand which ones to redo" in result.stderr
    assert leftovers(work_dir) == []


def test_russian_yes_and_no(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "да\nнет\n")
    assert result.returncode == 1
    assert "Cancelled" in result.stderr
    assert not out.exists() and leftovers(work_dir) == []


# ---- the per-video choices -------------------------------------------------------------
def test_unknown_style_is_one_line(work_dir, tmp_path):
    result, out = _make(tmp_path, work_dir, "", "--style", "nope", "--yes")
    _one_line_error(result, "unknown style 'nope'")
    assert "cinematic" in result.stderr
    assert leftovers(work_dir) == []


def test_length_and_segments_together_are_refused(work_dir, tmp_path):
    result = run_cli(["make", "a video about owls", "--length", "30", "--segments", "3", "--yes",
                      "--out", str(tmp_path / "x.mp4")], work_dir=work_dir)
    _one_line_error(result, "--length and --segments")
    assert leftovers(work_dir) == []


@pytest.mark.parametrize("flags, expected", [
    (["--narrator", "nobody"], "unknown narrator voice 'nobody'"),
    (["--narration-style", "shouty"], "unknown narration style 'shouty'"),
    (["--reference", "{tmp}/missing.png"], "reference picture"),
    (["--reference", "{tmp}/not-a-picture.png"], "not a picture"),
    (["--no-music", "--music", "{tmp}/song.mp3"], "--no-music"),
], ids=["narrator", "narration-style", "reference-missing", "reference-not-a-picture", "music-both"])
def test_bad_choices_are_one_line(work_dir, tmp_path, flags, expected):
    (tmp_path / "not-a-picture.png").write_text("hello")
    (tmp_path / "song.mp3").write_text("not audio")
    result, out = _make(tmp_path, work_dir, "", *[f.format(tmp=tmp_path) for f in flags], "--yes")
    _one_line_error(result, expected)
    assert leftovers(work_dir) == []


def test_length_sets_the_number_of_segments(work_dir, tmp_path):
    out = tmp_path / "short.mp4"
    result = run_cli(["make", "a video about owls", "--length", "3", "--seconds", "1", "--resolution", "180",
                      "--yes", "--out", str(out)], work_dir=work_dir)
    assert result.returncode == 0, result.stderr
    assert probe(out).duration == pytest.approx(3, abs=0.1)


def test_choices_make_a_video(work_dir, tmp_path):
    voice = sorted(ESPEAK_VOICES)[-1]  # any voice but the default
    reference = tmp_path / "ref.png"
    Image.new("RGB", (64, 36), (200, 40, 40)).save(reference)
    result, out = _make(tmp_path, work_dir, "", "--style", "anime", "--narrator", voice,
                        "--narration-style", "calm", "--no-music", "--reference", str(reference),
                        "--fast-pictures", "--motion-budget", "2", "--yes")
    assert result.returncode == 0, result.stderr
    assert probe(out).duration == pytest.approx(6, abs=0.1)
    assert reference.exists() and leftovers(work_dir) == []
