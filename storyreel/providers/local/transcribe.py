"""Offline speech-to-text: PocketSphinx with the US English model its wheel ships.

Only English is recognised; any other language is refused with ``NotAvailableOffline``
before any work is done. The input (anything FFmpeg reads: Telegram voice notes are
Ogg/Opus) is converted to 16 kHz mono 16-bit PCM in a private temporary folder that is
always removed. The decoder takes a while to load, so it is built once per process,
lazily; a decoder is not thread-safe, so every decode holds ``_lock``.

Retries: none here; every failure is permanent (``InputError`` for unusable audio,
``NotAvailableOffline`` for a language or a missing model, ``MediaError`` otherwise).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from ...log import ms_since
from ...errors import InputError, MediaError, NotAvailableOffline
from ...media.ffmpeg import run_ffmpeg
from ...lang import primary_subtag
from ...models import Transcript
from .forksafe import ForkSafeLock

log = structlog.get_logger(__name__)

_SAMPLE_RATE = 16000
_FRAME = 480  # samples: 30 ms
#: a recording whose loudest 30 ms stays under this RMS (about -50 dBFS) has no speech;
#: the decoder would otherwise "hear" a word in digital silence, depending on history
_SILENCE_RMS = 100.0
_lock = ForkSafeLock()
_decoder: Any = None  # pocketsphinx.Decoder, built on first use


class SphinxTranscriber:
    """``Transcriber`` for English speech, offline, with PocketSphinx.

    ``max_seconds`` caps how much of a recording is decoded (decoding runs at roughly a
    third of real time); ``temp_dir`` is where the temporary folder goes (None: the
    system's).
    """

    name = "pocketsphinx"

    def __init__(self, *, max_seconds: float = 600.0, temp_dir: Path | None = None) -> None:
        self.max_seconds = max_seconds
        self.temp_dir = temp_dir

    def transcribe(self, audio_path: Path, *, language: str | None = None) -> Transcript:
        """Recognise the English speech in ``audio_path``; None as language means English."""
        if language is not None and not _is_english(language):
            raise NotAvailableOffline(
                f"pocketsphinx has no model for {language!r}",
                code="language_not_available_offline",
                language=language,
            )
        started = time.perf_counter()
        pcm = self._read_pcm(Path(audio_path))
        text = "" if _is_silent(pcm) else _decode(pcm)
        if not text:
            raise InputError("pocketsphinx recognised nothing", code="transcription_empty")
        log.info(
            "transcription_done",
            provider=self.name,
            audio_seconds=round(len(pcm) / 2 / _SAMPLE_RATE, 2),
            chars=len(text),
            duration_ms=ms_since(started),
        )
        return Transcript(text, language="en")

    def _read_pcm(self, audio_path: Path) -> bytes:
        """The first ``max_seconds`` of ``audio_path`` as 16 kHz mono s16le samples."""
        with tempfile.TemporaryDirectory(prefix="storyreel-stt-", dir=self.temp_dir) as tmp:
            raw = Path(tmp) / "audio.s16le"
            try:
                run_ffmpeg(
                    ["-i", audio_path.absolute(), "-vn", "-sn", "-dn", "-t", f"{self.max_seconds:g}",
                     "-ac", "1", "-ar", str(_SAMPLE_RATE), "-f", "s16le", raw],
                    timeout=120,
                    what="transcribe_input",
                )
                pcm = raw.read_bytes()
            except MediaError as exc:
                if exc.code == "ffmpeg_missing":
                    raise
                raise InputError(f"cannot read audio: {exc.detail}", code="audio_unreadable") from exc
            except OSError as exc:
                raise InputError(f"cannot read converted audio: {exc}", code="audio_unreadable") from exc
        if len(pcm) < 2:
            raise InputError("the input has no audio samples", code="audio_unreadable")
        return pcm[: len(pcm) // 2 * 2]


def _is_english(language: str) -> bool:
    return primary_subtag(language) == "en"


def _is_silent(pcm: bytes) -> bool:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    frames = samples[: samples.size // _FRAME * _FRAME].reshape(-1, _FRAME)
    return frames.size == 0 or float(np.sqrt((frames**2).mean(axis=1)).max()) < _SILENCE_RMS


def _decode(pcm: bytes) -> str:
    """The best hypothesis for ``pcm`` as one utterance ("" when nothing was heard)."""
    global _decoder
    with _lock:
        decoder = _decoder or _load_decoder()
        try:
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        except (RuntimeError, ValueError, IndexError) as exc:
            _decoder = None  # its state is unknown: build a fresh one next time
            raise MediaError(f"pocketsphinx failed: {exc}") from exc
    return hyp.hypstr.strip() if hyp is not None else ""


def _load_decoder() -> Any:
    """Build the process's decoder; call with ``_lock`` held."""
    global _decoder
    started = time.perf_counter()
    try:
        from pocketsphinx import Decoder, get_model_path

        model = Path(get_model_path())
        _decoder = Decoder(
            hmm=str(model / "en-us" / "en-us"),
            lm=str(model / "en-us" / "en-us.lm.bin"),
            dict=str(model / "en-us" / "cmudict-en-us.dict"),
            samprate=_SAMPLE_RATE,
            loglevel="FATAL",
        )
    except (ImportError, RuntimeError, ValueError, OSError) as exc:
        raise NotAvailableOffline(f"pocketsphinx cannot load: {exc}", code="pocketsphinx_unavailable") from exc
    log.info("pocketsphinx_loaded", duration_ms=ms_since(started))
    return _decoder
