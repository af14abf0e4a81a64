"""Bad input: one clear line, a non-zero exit, no job folder left, never a traceback."""

from __future__ import annotations

import pytest

from conftest import leftovers, run_cli

SMALL = ["--segments", "2", "--seconds", "1", "--resolution", "180", "--yes"]


def _one_line_error(result, expected: str, code: int = 2):
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("storyreel: ")
    assert expected.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t "])
def test_empty_prompt(work_dir, tmp_path, prompt):
    result = run_cli(["make", prompt, "--out", str(tmp_path / "x.mp4"), *SMALL], work_dir=work_dir)
    _one_line_error(result, "prompt is empty")
    assert leftovers(work_dir) == []


def test_prompt_too_long(work_dir, tmp_path):
    result = run_cli(["make", "word " * 1000, "--out", str(tmp_path / "x.mp4"), *SMALL], work_dir=work_dir)
    _one_line_error(result, "too long")
    assert leftovers(work_dir) == []


def test_missing_script_file(work_dir, tmp_path):
    result = run_cli(["make", "--script", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "x.mp4"), *SMALL],
                     work_dir=work_dir)
    _one_line_error(result, "script file cannot be read")
    assert leftovers(work_dir) == []


def test_binary_script_file(work_dir, tmp_path):
    script = tmp_path / "script.bin"
    script.write_bytes(b"\xff\xfe\x00\x81" * 10)
    result = run_cli(["make", "--script", str(script), "--out", str(tmp_path / "x.mp4"), *SMALL], work_dir=work_dir)
    _one_line_error(result, "not UTF-8")
    assert leftovers(work_dir) == []


def test_empty_script_file(work_dir, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("  \n ")
    result = run_cli(["make", "--script", str(script), "--out", str(tmp_path / "x.mp4"), *SMALL], work_dir=work_dir)
    _one_line_error(result, "script file is empty")


@pytest.mark.parametrize("out", ["/proc/storyreel-test.mp4", "{tmp}/missing/dir/x.mp4", "{tmp}", "{tmp}/x.avi"])
def test_unwritable_output(work_dir, tmp_path, out):
    target = out.format(tmp=tmp_path)
    if target == str(tmp_path):
        target = str(tmp_path / "adir.mp4")
        (tmp_path / "adir.mp4").mkdir()
    result = run_cli(["make", "a video about owls", "--out", target, *SMALL], work_dir=work_dir)
    _one_line_error(result, "cannot be written")
    assert leftovers(work_dir) == []


@pytest.mark.parametrize("binary", ["/nonexistent/ffmpeg", "/etc/hostname"])
def test_ffmpeg_not_runnable(work_dir, tmp_path, binary):
    result = run_cli(["make", "a video about owls", "--out", str(tmp_path / "x.mp4"), *SMALL], work_dir=work_dir,
                     env={"FFMPEG_BINARY": binary})
    _one_line_error(result, "FFmpeg cannot be run")
    assert leftovers(work_dir) == []
    assert not (tmp_path / "x.mp4").exists()


def test_music_that_is_not_audio(work_dir, tmp_path):
    music = tmp_path / "song.mp3"
    music.write_text("not audio")
    result = run_cli(["make", "a video about owls", "--music", str(music), "--out", str(tmp_path / "x.mp4"), *SMALL],
                     work_dir=work_dir)
    _one_line_error(result, "music file cannot be used")


def test_malformed_setting_names_the_variable(work_dir, tmp_path):
    result = run_cli(["make", "a video about owls", "--out", str(tmp_path / "x.mp4"), *SMALL], work_dir=work_dir,
                     env={"MAX_UPLOAD_MB": "lots"})
    _one_line_error(result, "MAX_UPLOAD_MB")


def test_segments_off_the_frame_grid_are_refused(work_dir, tmp_path):
    result = run_cli(["make", "a video about owls", "--seconds", "0.7", "--out", str(tmp_path / "x.mp4"), "--yes"],
                     work_dir=work_dir)
    _one_line_error(result, "whole number of frames")
    assert leftovers(work_dir) == []


def test_video_too_long_for_the_upload_limit_is_refused_up_front(work_dir, tmp_path):
    result = run_cli(["make", "a video about owls", "--segments", "500", "--seconds", "60",
                      "--out", str(tmp_path / "x.mp4"), "--yes"], work_dir=work_dir)
    _one_line_error(result, "too long to fit")
    assert leftovers(work_dir) == []
