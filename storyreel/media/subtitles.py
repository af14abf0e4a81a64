"""SubRip (.srt) subtitles timed to the narration."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_path

#: characters per subtitle line and lines per cue, the usual broadcast limits
LINE_CHARS = 42
MAX_LINES = 2


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _stamp(seconds: float) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def split_cue(cue: Cue) -> list[Cue]:
    """Cut a cue whose text needs more than ``MAX_LINES`` lines into several, sharing its
    time in proportion to their length, so every cue stays readable on screen."""
    lines = textwrap.wrap(cue.text, LINE_CHARS) or [""]
    groups = [lines[i:i + MAX_LINES] for i in range(0, len(lines), MAX_LINES)]
    total = sum(len(" ".join(g)) for g in groups) or 1
    out, t = [], cue.start
    for g in groups:
        text = "\n".join(g)
        span = (cue.end - cue.start) * len(" ".join(g)) / total
        out.append(Cue(t, t + span, text))
        t += span
    return out


def write_srt(cues: list[Cue], path: Path) -> Path:
    """Write ``cues`` (empty texts skipped) as an SRT file, atomically."""
    blocks = []
    for cue in cues:
        if not cue.text.strip() or cue.end <= cue.start:
            continue
        for part in split_cue(cue):
            blocks.append(f"{len(blocks) + 1}\n{_stamp(part.start)} --> {_stamp(part.end)}\n{part.text}\n")
    with atomic_path(Path(path)) as tmp:
        tmp.write_text("\n".join(blocks), encoding="utf-8")
    return Path(path)
