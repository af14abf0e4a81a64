"""Offline narration: eSpeak NG driven in-process through ctypes.

The library and its voice data come from the ``espeakng-loader`` wheel, so nothing is
looked up on the system and nothing is downloaded. libespeak-ng keeps one global state
per process and is not thread-safe: it is initialised lazily, once per process (again
in a forked child), and every synthesis holds ``_lock``. Synthesis takes a few
milliseconds per sentence, so serialising it costs little.

Voices are eSpeak's own variants of each language's voice (``en-us+f2``): the same few for
every language, so a person's choice holds whatever the video's language. A style may make
the reading a little faster or slower, higher or lower ("lively", "calm", "serious"…);
everything else about it is ignored. The same text, voice and style always give the same
rate and pitch (eSpeak's own audio still differs by a few samples from one run to the next).

Retries: none here. A failure is permanent (``NotAvailableOffline`` when the library or
a voice is missing, ``MediaError`` when synthesis or writing fails).
"""

from __future__ import annotations

import array
import ctypes
import os
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import structlog

from ...log import ms_since
from ...errors import ConfigError, InputError, MediaError, NotAvailableOffline
from ...lang import primary_subtag
from ...media.files import atomic_path
from .forksafe import ForkSafeLock

log = structlog.get_logger(__name__)

# espeak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_PARAM_RATE, _PARAM_PITCH = 1, 3
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_BUFFER_MS = 500  # audio per callback: fewer, larger callbacks into Python

#: the voice used for a language code when it is not itself the voice's name
_VOICES = {"en": "en-us", "en-gb": "en", "ru": "ru"}
#: the voices a person chooses from: the language's own ("default") and variants eSpeak NG ships
#: (``espeak-ng-data/voices/!v``): male 1 and 7, female 2 and 5, and the Klatt synthesiser's
ESPEAK_VOICES = ("default", "m1", "m7", "f2", "f5", "klatt")
#: words of a style → (rate factor, pitch change): the first that matches applies
_STYLE_PACE = (
    (("lively", "energetic", "cheerful", "excited", "fast", "живо", "бодр", "весел", "энерги"), 1.12, 6),
    (("serious", "measured", "news", "grave", "серьёз", "серьез", "строг"), 0.96, -8),
    (("calm", "slow", "warm", "gentle", "soft", "unhurried", "спокой", "медлен", "тёпл", "тепл", "мягк"), 0.92, -4),
)
_SILENCE_SECONDS = 0.1

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_chunks: list[bytes] = []  # filled by the callback while ``_lock`` is held
_lock = ForkSafeLock(on_fork=_chunks.clear)


@dataclass
class _Engine:
    lib: ctypes.CDLL
    data_path: str
    sample_rate: int
    pid: int
    voice: str | None = None


_engine: _Engine | None = None


@_SynthCallback
def _on_audio(wav, count, _events):  # called by espeak_Synth, in the calling thread
    if wav and count > 0:
        _chunks.append(ctypes.string_at(wav, count * 2))
    return 0  # 0 = go on


class EspeakNarrator:
    """``Narrator`` speaking with eSpeak NG, offline; writes 16-bit mono WAV at 22050 Hz.

    ``rate_wpm`` is the speaking rate in words per minute (80–450); ``pitch`` is
    eSpeak's 0–100 scale (None: the voice's default, 50). "ru" and "en" are always
    available; any other code is tried as an eSpeak voice name, then by its primary
    subtag ("pt-BR" → "pt"). Empty or blank text gives a short silent file.
    """

    name = "espeak"
    max_chars = 4000
    #: the library speaks one text at a time in a process (``_lock``): no point in more
    concurrency = 1

    def __init__(self, rate_wpm: int = 165, pitch: int | None = None, voice: str = "default") -> None:
        if not 80 <= rate_wpm <= 450:
            raise ConfigError(f"espeak rate_wpm must be 80..450, got {rate_wpm}")
        if pitch is not None and not 0 <= pitch <= 100:
            raise ConfigError(f"espeak pitch must be 0..100, got {pitch}")
        if voice not in ESPEAK_VOICES:
            raise ConfigError(f"espeak voice must be one of {', '.join(ESPEAK_VOICES)}, got {voice!r}")
        self.rate_wpm = rate_wpm
        self.pitch = 50 if pitch is None else pitch
        self.voice = voice
        #: the voices a person may choose (the default first)
        self.voices = tuple(sorted(ESPEAK_VOICES, key=lambda v: v != voice))

    def speak(self, text: str, out_path: Path, *, language: str, voice: str | None = None,
              style: str = "") -> Path:
        """Speak ``text`` in ``language`` into a WAV file at ``out_path`` (written atomically), in
        ``voice`` (one of ``voices``; None: the default) a little faster or slower for ``style``."""
        variant = self.voice if voice is None else voice
        if variant not in self.voices:
            raise InputError(f"unknown voice {voice!r}; the voices are {', '.join(self.voices)}",
                             code="unknown_voice", voice=voice)
        if len(text) > self.max_chars:
            raise InputError(f"{len(text)} chars > max_chars {self.max_chars}", code="narration_too_long")
        rate, pitch = self._pace(style)
        started = time.perf_counter()
        with _lock:
            engine = _engine_for_this_process()
            name = _select_voice(engine, language, variant)
            pcm = self._synthesize(engine, text, rate, pitch) if text.strip() else b""
            sample_rate = engine.sample_rate
        if not pcm:  # blank text (a pause) or text espeak has nothing to say for
            pcm = bytes(2 * int(sample_rate * _SILENCE_SECONDS))
        out_path = Path(out_path)
        _write_wav(out_path, pcm, sample_rate)
        log.debug(
            "narration_done",
            provider=self.name,
            language=language,
            voice=name,
            rate_wpm=rate,
            pitch=pitch,
            chars=len(text),
            audio_seconds=round(len(pcm) / 2 / sample_rate, 2),
            duration_ms=ms_since(started),
        )
        return out_path

    def _pace(self, style: str) -> tuple[int, int]:
        """(words per minute, pitch) for ``style``: the first matching entry of ``_STYLE_PACE``."""
        words = style.lower()
        for keys, factor, change in _STYLE_PACE:
            if any(key in words for key in keys):
                return (min(450, max(80, round(self.rate_wpm * factor))), min(100, max(0, self.pitch + change)))
        return self.rate_wpm, self.pitch

    def _synthesize(self, engine: _Engine, text: str, rate: int, pitch: int) -> bytes:
        lib = engine.lib
        lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        data = text.replace("\0", " ").encode("utf-8", "replace")
        _chunks.clear()
        try:
            status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status == _EE_OK:
                status = lib.espeak_Synchronize()
            pcm = b"".join(_chunks)
        except (ctypes.ArgumentError, OSError) as exc:
            raise MediaError(f"espeak_Synth failed: {exc}") from exc
        finally:
            _chunks.clear()
        if status != _EE_OK:
            raise MediaError(f"espeak_Synth returned {status}")
        return pcm


def _engine_for_this_process() -> _Engine:
    """The initialised library for this process; call with ``_lock`` held."""
    global _engine
    if _engine is not None and _engine.pid == os.getpid():
        return _engine
    started = time.perf_counter()
    if _engine is not None:  # a forked child: drop the parent's copy of the state
        _engine.lib.espeak_Terminate()
    lib, data_path = (_engine.lib, _engine.data_path) if _engine else _load_library()
    _engine = None
    sample_rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT
    )
    if sample_rate <= 0:
        raise NotAvailableOffline(f"espeak_Initialize returned {sample_rate}", code="espeak_unavailable")
    lib.espeak_SetSynthCallback(_on_audio)
    _engine = _Engine(lib, data_path, sample_rate, os.getpid())
    log.info("espeak_initialised", sample_rate=sample_rate,
             duration_ms=ms_since(started))
    return _engine


def _load_library() -> tuple[ctypes.CDLL, str]:
    """libespeak-ng and its data folder, from the ``espeakng-loader`` wheel."""
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path()
    except (ImportError, OSError, RuntimeError) as exc:
        raise NotAvailableOffline(f"libespeak-ng cannot load: {exc}", code="espeak_unavailable") from exc
    c_int, c_uint = ctypes.c_int, ctypes.c_uint
    lib.espeak_Initialize.argtypes = [c_int, c_int, ctypes.c_char_p, c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [c_int, c_int, c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, c_uint, c_int, c_uint, c_uint,
                                 ctypes.POINTER(c_uint), ctypes.c_void_p]
    for fn in (lib.espeak_Initialize, lib.espeak_SetVoiceByName, lib.espeak_SetParameter,
               lib.espeak_Synth, lib.espeak_Synchronize, lib.espeak_Terminate):
        fn.restype = c_int
    return lib, data_path


def _select_voice(engine: _Engine, language: str, variant: str = "default") -> str:
    """Make the voice for ``language`` in ``variant`` current (call with ``_lock`` held); return
    its name ("ru", "en-us+f2")."""
    code = (language or "").strip().lower().replace("_", "-")
    primary = primary_subtag(code)
    suffix = ""
    if variant != "default":
        # eSpeak falls back to the plain voice, silently, for a variant it does not have
        if not (Path(engine.data_path) / "voices" / "!v" / variant).is_file():
            raise NotAvailableOffline(f"espeak has no voice variant {variant!r}", code="not_available_offline",
                                      voice=variant)
        suffix = f"+{variant}"
    for name in dict.fromkeys((_VOICES.get(code, code), _VOICES.get(primary, primary))):
        if not name or not name.isascii():
            continue
        name += suffix
        if name == engine.voice:
            return name
        if engine.lib.espeak_SetVoiceByName(name.encode("ascii")) == _EE_OK:
            engine.voice = name
            return name
        engine.voice = None  # do not trust what a failed call left behind
    raise NotAvailableOffline(
        f"espeak has no voice for {language!r}", code="language_not_available_offline", language=language
    )


def _write_wav(out_path: Path, pcm: bytes, sample_rate: int) -> None:
    if sys.byteorder == "big":  # espeak gives native-endian samples; WAV is little-endian
        samples = array.array("h", pcm)
        samples.byteswap()
        pcm = samples.tobytes()
    try:
        with atomic_path(out_path) as tmp, wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(sample_rate)
            wav.writeframes(pcm)
    except OSError as exc:
        raise MediaError(f"cannot write {out_path}: {exc}") from exc
