"""Background music: which track of the operator's folder goes under a job's video."""

from __future__ import annotations

import hashlib
from pathlib import Path

AUDIO_EXTENSIONS = (".mp3", ".ogg", ".oga", ".wav", ".m4a", ".aac", ".flac", ".opus")


def pick_track(folder: Path | None, key: str) -> Path | None:
    """One track from ``folder``, the same one for the same ``key`` (a job id), so a job
    that runs again after a restart gets the music it started with; None without tracks."""
    if not folder or not Path(folder).is_dir():
        return None
    tracks = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not tracks:
        return None
    return tracks[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(tracks)]
