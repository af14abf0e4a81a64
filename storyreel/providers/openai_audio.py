"""Narration on ``/v1/audio/speech`` and transcription on ``/v1/audio/transcriptions``.

OpenAI shuts every speech-endpoint model down on 2027-01-06 (narration moves to the
Realtime API, ``openai_realtime``), but many servers keep speaking this API — Kokoro,
Piper, LocalAI, hosted OpenAI-compatible TTS — so it stays, on a base URL and key of its
own when set. Usage: characters for speech, seconds for transcription.

The voice and the style are chosen per call: OpenAI's models offer the endpoint's built-in
voices (another server's model: only the configured voice, the one we know it has); the style
goes out as ``instructions`` to the models that take them (not ``tts-1`` / ``tts-1-hd``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import openai

from ..errors import InputError, MediaError
from ..lang import detect_language, primary_subtag
from ..media.ffmpeg import run_ffmpeg
from ..media.probe import MediaInfo, probe
from ..models import Transcript
from ..settings import Settings
from .base import report_usage
from .openai_common import OpenAIProvider, fix_wav_header, silent_wav, write_audio

#: the speech endpoint's input limit, in characters
SPEECH_MAX_CHARS = 4096
#: the transcription endpoint's upload limit
TRANSCRIBE_MAX_MB = 25
_TRANSCRIBE_MAX_BYTES = TRANSCRIBE_MAX_MB * 1024 * 1024
#: the speech endpoint's built-in voices (as the SDK's ``SpeechCreateParams.voice`` lists them)
SPEECH_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
                 "marin", "cedar")
#: OpenAI's speech models, by name prefix; of them only the ``gpt-…`` ones take ``instructions``
_OPENAI_SPEECH_MODELS = ("tts-1", "gpt-4o-mini-tts")


class OpenAINarrator(OpenAIProvider):
    """``Narrator`` on the speech endpoint; writes WAV (24 kHz mono PCM from OpenAI)."""

    max_chars = SPEECH_MAX_CHARS

    def __init__(self, client: openai.OpenAI, settings: Settings) -> None:
        super().__init__(client, settings)
        self.model = settings.openai_tts_model
        self.voice = settings.openai_tts_voice
        self.style = settings.openai_tts_style
        openai_model = self.model.startswith(_OPENAI_SPEECH_MODELS)
        #: the voices a person may choose (the configured one first)
        known = SPEECH_VOICES if openai_model else (self.voice,)
        self.voices = tuple(sorted(known, key=lambda v: v != self.voice))  # stable: the rest keep their order
        #: whether the model takes a style as ``instructions`` (OpenAI refuses them for tts-1, tts-1-hd)
        self.takes_instructions = openai_model and self.model.startswith("gpt-")

    def speak(self, text: str, out_path: Path, *, language: str, voice: str | None = None,
              style: str = "") -> Path:
        """Speak ``text`` into ``out_path`` (atomically) in ``voice`` (None: the configured one) and
        ``style`` (empty: OPENAI_TTS_STYLE; ignored by models without instructions). The model
        follows the text's language."""
        if voice is not None and voice != self.voice and voice not in self.voices:
            raise InputError(f"unknown voice {voice!r}; the voices are {', '.join(self.voices)}",
                             code="unknown_voice", voice=voice)
        voice = voice or self.voice
        if len(text) > self.max_chars:
            raise InputError(f"{len(text)} chars > max_chars {self.max_chars}", code="narration_too_long")
        out_path = Path(out_path)
        if not text.strip():  # the endpoint refuses empty input; a pause needs no call
            return write_audio(out_path, silent_wav(0.1))
        style = (style.strip() or self.style) if self.takes_instructions else ""
        extra = {"instructions": style} if style else {}
        with self.call("audio.speech", self.model, chars=len(text), language=language, voice=voice,
                       styled=bool(style)) as result:
            audio = self.client.audio.speech.create(
                model=self.model, voice=voice, input=text, response_format="wav", **extra
            ).content
            result["bytes"] = len(audio)
        report_usage(self.model, len(text), "character")
        return write_audio(out_path, fix_wav_header(audio))



# ---- transcription ---------------------------------------------------------------------
#: containers the endpoint takes, by PyAV's format name: (upload file name, content type)
_UPLOADS = {
    "ogg": ("audio.ogg", "audio/ogg"),  # Telegram voice notes (Ogg/Opus, often named .oga)
    "mp3": ("audio.mp3", "audio/mpeg"),
    "wav": ("audio.wav", "audio/wav"),
    "flac": ("audio.flac", "audio/flac"),
    "mov,mp4,m4a,3gp,3g2,mj2": ("audio.m4a", "audio/mp4"),
}


class OpenAITranscriber(OpenAIProvider):
    """``Transcriber`` on the transcription endpoint (Whisper-class models).

    Files over 25 MB are refused before anything is uploaded. Containers the endpoint does
    not take are converted to Ogg/Opus first, locally.
    """

    def __init__(self, client: openai.OpenAI, settings: Settings) -> None:
        super().__init__(client, settings)
        self.model = settings.openai_transcribe_model

    def transcribe(self, audio_path: Path, *, language: str | None = None) -> Transcript:
        """The text spoken in ``audio_path``; ``language`` (ISO 639-1) helps the model when known."""
        path = Path(audio_path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"cannot read {path.name}: {exc}", code="audio_unreadable") from exc
        if size > _TRANSCRIBE_MAX_BYTES:
            raise InputError(f"{size} bytes > {TRANSCRIBE_MAX_MB} MB", code="audio_too_large",
                             limit_mb=TRANSCRIBE_MAX_MB)
        info = _probe_audio(path)
        filename, content_type, data = _upload_form(path, info)
        lang = primary_subtag(language) or None
        extra = {"language": lang} if lang else {}
        with self.call("audio.transcriptions", self.model, audio_seconds=round(info.duration, 2),
                        bytes=len(data)) as result:
            reply = self.client.audio.transcriptions.create(
                model=self.model, file=(filename, data, content_type), response_format="json", **extra
            )
            text = (reply.text or "").strip()
            result["chars"] = len(text)
        report_usage(self.model, info.duration, "second")  # billed whatever was heard
        if not text:
            raise InputError("the transcription is empty", code="transcription_empty")
        detected = [item.code for item in (getattr(reply, "languages", None) or []) if item.code]
        return Transcript(text, language=lang or (detected[0] if detected else None)
                          or detect_language(text, self.settings.default_language))


def _probe_audio(path: Path) -> MediaInfo:
    try:
        info = probe(path)
    except MediaError as exc:
        raise InputError(f"cannot read audio: {exc.detail}", code="audio_unreadable") from exc
    if not info.has_audio:
        raise InputError(f"{path.name} has no audio", code="audio_unreadable")
    return info


def _upload_form(path: Path, info: MediaInfo) -> tuple[str, str, bytes]:
    """(file name, content type, bytes) to upload; the name must end in an extension the
    endpoint takes (Telegram's ".oga" is not one), so it comes from the probed container."""
    known = _UPLOADS.get(info.format_name)
    if known is None and path.suffix.lower() == ".webm" and "webm" in info.format_name:
        known = ("audio.webm", "audio/webm")
    if known is not None:
        return known[0], known[1], path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="storyreel-stt-") as tmp:
        out = Path(tmp) / "audio.ogg"
        try:
            run_ffmpeg(["-i", path.absolute(), "-vn", "-sn", "-dn", "-map_metadata", "-1", "-ac", "1",
                        "-c:a", "libopus", "-b:a", "32k", out], timeout=300, what="transcribe_upload")
        except MediaError as exc:
            if exc.code == "ffmpeg_missing":
                raise
            raise InputError(f"cannot convert audio: {exc.detail}", code="audio_unreadable") from exc
        data = out.read_bytes()
    if len(data) > _TRANSCRIBE_MAX_BYTES:
        raise InputError(f"{len(data)} bytes after conversion", code="audio_too_large", limit_mb=TRANSCRIBE_MAX_MB)
    return "audio.ogg", "audio/ogg", data


