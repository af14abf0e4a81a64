"""Job folders: ids never become path traversal; writes are atomic; cleanup is selective."""

from __future__ import annotations

import os
import time

import pytest

from storyreel.errors import InputError
from storyreel.media.files import FileManager, atomic_path, new_job_id


@pytest.mark.parametrize("bad", ["..", "../etc", "/etc/passwd", "a/b", "", ".hidden", "a" * 65, "x\x00y", "é", "a b"])
def test_bad_job_ids_are_refused(tmp_path, bad):
    files = FileManager(tmp_path)
    with pytest.raises(InputError):
        files.job_dir(bad)
    with pytest.raises(InputError):
        files.create_job_dir(bad)
    assert list(tmp_path.iterdir()) == []


def test_file_names_cannot_escape_the_job_folder(tmp_path):
    files = FileManager(tmp_path)
    job = new_job_id()
    files.create_job_dir(job)
    for name in ["../x", "../../x", "/etc/passwd", "a/../../x"]:
        with pytest.raises(InputError):
            files.path(job, name)
    assert files.path(job, "clips/001.mp4") == tmp_path.resolve() / job / "clips" / "001.mp4"


def test_save_and_cleanup(tmp_path):
    files = FileManager(tmp_path)
    job = new_job_id()
    files.create_job_dir(job)
    saved = files.save_file(job, "pictures/000.png", b"data")
    assert saved.read_bytes() == b"data"
    assert files.cleanup_job(job) is True
    assert not (tmp_path / job).exists()
    assert files.cleanup_job(job) is False


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "video.mp4"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".mp4" and tmp != target
        tmp.write_bytes(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["video.mp4"]
    assert target.read_bytes() == b"whole"


def test_cleanup_old_removes_only_old_job_folders(tmp_path):
    files = FileManager(tmp_path)
    old, fresh = new_job_id(), new_job_id()
    for job in (old, fresh):
        files.save_file(job, "clips/000.mp4", b"x")
    stale = time.time() - 48 * 3600
    for path in (tmp_path / old).rglob("*"):
        os.utime(path, (stale, stale))
    os.utime(tmp_path / old, (stale, stale))
    operator_dir = tmp_path / "not a job"
    operator_dir.mkdir()
    os.utime(operator_dir, (stale, stale))
    (tmp_path / "notes.txt").write_text("keep")
    removed = files.cleanup_old(24 * 3600)
    assert removed == [old]
    assert not (tmp_path / old).exists()
    assert (tmp_path / fresh).exists() and operator_dir.exists() and (tmp_path / "notes.txt").exists()


def test_cleanup_old_keeps_a_job_with_a_recent_file(tmp_path):
    files = FileManager(tmp_path)
    job = new_job_id()
    files.save_file(job, "a.txt", b"x")
    stale = time.time() - 48 * 3600
    os.utime(tmp_path / job, (stale, stale))
    assert files.cleanup_old(24 * 3600) == []
