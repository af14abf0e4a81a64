"""A narration track laid out on the video's timeline.

Each segment's speech is placed at its segment's start, so the words are heard while
their picture is on screen. A piece longer than its segment is sped up (pitch kept, by
FFmpeg's ``atempo``) up to ``max_tempo``; what still does not fit runs on into the next
segment's time, pushing later pieces back only as far as needed. If the whole track
would end after the video, it is sped up as a whole. Speech is never cut.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from .ffmpeg import run_ffmpeg
from .files import atomic_path
from .probe import audio_samples

log = structlog.get_logger(__name__)

RATE = 24000
#: silence kept between two pieces that run into each other
_GAP = 0.12
_SILENCE = 0.004


@dataclass(frozen=True)
class Placement:
    """Where a segment's speech sits on the timeline."""

    index: int
    start: float
    end: float
    tempo: float


def _trim(samples: np.ndarray) -> np.ndarray:
    """Drop near-silence at both ends (TTS engines pad), keeping a few ms of margin."""
    loud = np.flatnonzero(np.abs(samples) > _SILENCE)
    if loud.size == 0:
        return samples[:0]
    margin = int(0.03 * RATE)
    return samples[max(0, loud[0] - margin): loud[-1] + margin]


def _stretch(samples: np.ndarray, tempo: float, work: Path, ffmpeg: str | None) -> np.ndarray:
    """Speed ``samples`` up by ``tempo`` without changing the pitch."""
    src, dst = work / "_stretch_in.wav", work / "_stretch_out.wav"
    try:
        write_wav(samples, src)
        chain = []
        remaining = tempo
        while remaining > 2.0:  # one atempo instance takes 0.5…2.0 in older FFmpeg builds
            chain.append("atempo=2.0")
            remaining /= 2.0
        chain.append(f"atempo={remaining:.5f}")
        run_ffmpeg(["-i", src, "-af", ",".join(chain), "-ar", str(RATE), "-ac", "1", dst],
                   binary=ffmpeg, what="narration_tempo")
        return audio_samples(dst, rate=RATE)
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)


def write_wav(samples: np.ndarray, path: Path) -> Path:
    """Mono 16-bit PCM WAV at ``RATE`` Hz."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return path


def build_narration(
    pieces: list[tuple[int, float, float, Path | None]],
    total: float,
    out_path: Path,
    *,
    max_tempo: float = 1.35,
    ffmpeg: str | None = None,
) -> list[Placement]:
    """Lay ``pieces`` — (segment index, segment start, segment end, audio file or None) —
    on a track of exactly ``total`` seconds written to ``out_path`` (WAV)."""
    out_path = Path(out_path)
    work = out_path.parent
    placed: list[tuple[int, float, np.ndarray, float]] = []
    cursor = 0.0
    for index, seg_start, seg_end, audio in pieces:
        if audio is None:
            continue
        samples = _trim(audio_samples(audio, rate=RATE))
        if samples.size == 0:
            continue
        slot = max(0.1, seg_end - seg_start - _GAP)
        duration = samples.size / RATE
        tempo = 1.0
        if duration > slot:
            tempo = min(duration / slot, max_tempo)
            samples = _stretch(samples, tempo, work, ffmpeg)
        start = max(seg_start, cursor)
        placed.append((index, start, samples, tempo))
        cursor = start + samples.size / RATE + _GAP
    end = max((s + a.size / RATE for _, s, a, _ in placed), default=0.0)
    squeeze = end / total if end > total else 1.0
    track = np.zeros(int(round(total * RATE)), dtype=np.float32)
    placements = []
    if squeeze > 1.0:
        log.warning("narration_squeezed", factor=round(squeeze, 3))
        # lay out unsqueezed, then speed the whole track up: nothing is cut
        long_track = np.zeros(int(np.ceil(end * RATE)) + 1, dtype=np.float32)
        for index, start, samples, tempo in placed:
            at = int(round(start * RATE))
            long_track[at:at + samples.size] += samples
            placements.append(Placement(index, start / squeeze, (start + samples.size / RATE) / squeeze,
                                        tempo * squeeze))
        fitted = _stretch(long_track, squeeze, work, ffmpeg)[: track.size]
        track[: fitted.size] = fitted
    else:
        for index, start, samples, tempo in placed:
            at = int(round(start * RATE))
            chunk = samples[: max(0, track.size - at)]
            track[at:at + chunk.size] += chunk
            placements.append(Placement(index, start, start + samples.size / RATE, tempo))
    with atomic_path(out_path) as tmp:
        write_wav(track, tmp)
    return placements
