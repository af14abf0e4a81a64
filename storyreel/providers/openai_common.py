"""What the OpenAI providers share: the clients, the one place SDK errors become ours,
the way a call is timed and logged, and WAV helpers.

The script writer (``openai_script``), the narrator and transcriber (``openai_audio``)
and the Realtime narrator (``openai_realtime``) all go through the official ``openai``
SDK and a client built by ``make_openai_client`` (``make_speech_client`` for narration,
which may go to a server of its own); ``OPENAI_BASE_URL`` points the same code at any
OpenAI-compatible server.

Retries — exactly one layer retries each failure:

* HTTP 408/409/429/5xx and connection errors and timeouts: the SDK, ``openai_max_retries``
  times, with capped exponential backoff and jitter, honouring ``Retry-After``. What is
  still failing when the SDK gives up is mapped by ``map_openai_error`` to a *permanent*
  error (``ProviderFailed``, ``QuotaExceeded``…), so the pipeline does not retry it again.
* A script the model got wrong: one repair request (``openai_script``), a new and
  different request, not a retry of a transport failure.
* A Realtime connection dropped mid-audio: ``ProviderUnavailable``, retried by the
  pipeline's call runner (the SDK does not retry WebSockets).

Costs: each call reports what it consumed through ``report_usage``, under the model
name we asked for (the server may answer with a dated snapshot name, which is not a key in
the price table).
"""

from __future__ import annotations

import re
import struct
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import openai
import structlog

from ..errors import ConfigError, MediaError, ProviderFailed, ProviderRejected, QuotaExceeded, StoryReelError
from ..log import ms_since
from ..media.files import atomic_path
from ..settings import Settings

log = structlog.get_logger(__name__)

SAFETY_CODES = {"content_policy_violation", "content_filter", "moderation_blocked", "safety_violation"}
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
LANGUAGE_NAMES = {
    "ru": "Russian", "en": "English", "uk": "Ukrainian", "de": "German", "fr": "French", "es": "Spanish",
    "it": "Italian", "pt": "Portuguese", "pl": "Polish", "tr": "Turkish", "kk": "Kazakh", "zh": "Chinese",
    "ja": "Japanese", "ko": "Korean", "ar": "Arabic", "hi": "Hindi",
}




def make_openai_client(settings: Settings) -> openai.OpenAI:
    """The one OpenAI client, configured from ``settings``.

    ``openai_base_url`` unset means None, so the SDK reads ``OPENAI_BASE_URL`` itself.
    """
    key = settings.secret(settings.openai_api_key)
    if not key:
        raise ConfigError("OPENAI_API_KEY is not set", code="config", reason="OPENAI_API_KEY is not set")
    try:
        return openai.OpenAI(
            api_key=key,
            base_url=settings.openai_base_url or None,
            max_retries=settings.openai_max_retries,
            timeout=settings.openai_timeout,
        )
    except (openai.OpenAIError, ValueError) as exc:
        raise ConfigError(_scrub(f"cannot build the OpenAI client: {exc}", key),
                          code="config", reason="the OpenAI settings are invalid") from exc


def make_speech_client(settings: Settings) -> openai.OpenAI:
    """The client narration goes through: ``OPENAI_SPEECH_BASE_URL`` / ``OPENAI_SPEECH_API_KEY``
    when set (a self-hosted Kokoro or Piper server, LocalAI, a hosted OpenAI-compatible
    speech service), else the OpenAI client's own base URL and key."""
    base = settings.openai_speech_base_url
    key = settings.secret(settings.openai_speech_api_key)
    if not base and not key:
        return make_openai_client(settings)
    # a self-hosted speech server often takes no key, but the SDK insists on one
    key = key or settings.secret(settings.openai_api_key) or ("unused" if base else None)
    if not key:
        raise ConfigError("OPENAI_API_KEY is not set", code="config", reason="OPENAI_API_KEY is not set")
    try:
        return openai.OpenAI(api_key=key, base_url=base or settings.openai_base_url or None,
                             max_retries=settings.openai_max_retries, timeout=settings.openai_timeout)
    except (openai.OpenAIError, ValueError) as exc:
        raise ConfigError(_scrub(f"cannot build the speech client: {exc}", key),
                          code="config", reason="the speech server settings are invalid") from exc


def speech_api(settings: Settings) -> str:
    """"realtime" or "speech": the API narration uses (``OPENAI_SPEECH_API``, or the model's name)."""
    if settings.openai_speech_api != "auto":
        return settings.openai_speech_api
    return "realtime" if "realtime" in settings.openai_tts_model.lower() else "speech"


# ---- errors: the one place SDK exceptions become ours ----------------------------------
def map_openai_error(exc: openai.OpenAIError, *, secret: str | None = None) -> StoryReelError:
    """Our error for an SDK exception raised after the SDK's own retries gave up.

    ``secret`` (the API key) is removed from the detail, should a server echo it back.
    """
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "code", None)
    detail = _scrub(f"openai {type(exc).__name__} status={status} code={code}: {exc}", secret)
    if isinstance(exc, openai.RateLimitError):
        if code == "insufficient_quota" or _error_type(exc) == "insufficient_quota":
            return QuotaExceeded(detail)
        return ProviderFailed(detail, code="temporary")
    if isinstance(exc, (openai.APIConnectionError, openai.InternalServerError)):  # timeouts included
        return ProviderFailed(detail)
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ProviderFailed(detail, code="provider_auth")
    if isinstance(exc, openai.BadRequestError):
        if code in SAFETY_CODES or re.search(r"content policy|safety system", str(exc), re.I):
            return ProviderRejected(detail, code="safety_rejected")
        return ProviderRejected(detail)
    if code == "model_not_found":  # shut down by OpenAI, or never served by this server
        gone = re.search(r"deprecat|shut ?down|retired", str(exc), re.I)
        return ProviderRejected(detail, code="model_retired" if gone else "model_unknown")
    if isinstance(exc, openai.APIStatusError) and (status or 0) < 500 and status not in (408, 409):
        return ProviderRejected(detail)  # 422…: asking again will not help
    return ProviderFailed(detail)  # 408/409 after retries, a response we cannot read, anything else


def _error_type(exc: openai.OpenAIError) -> str | None:
    return getattr(exc, "type", None)


def _scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("sk-***", text)


class OpenAIProvider:
    """What the OpenAI providers share: the client, and one way to make and log a call."""

    name = "openai"

    def __init__(self, client: openai.OpenAI, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @contextmanager
    def call(self, endpoint: str, model: str, **fields: Any) -> Iterator[dict[str, Any]]:
        """Time one SDK call, log it, and map its exceptions; the caller adds result fields."""
        started = time.perf_counter()
        result: dict[str, Any] = {}
        try:
            yield result
        except openai.OpenAIError as exc:
            error = map_openai_error(exc, secret=self.client.api_key)
            log.warning("openai_call_failed", provider=self.name, endpoint=endpoint, model=model,
                        error_code=error.code, detail=error.detail,
                        duration_ms=ms_since(started), **fields)
            raise error from exc
        log.info("openai_call", provider=self.name, endpoint=endpoint, model=model,
                 duration_ms=ms_since(started), **fields, **result)




# ---- audio files ---------------------------------------------------------------------
def fix_wav_header(data: bytes) -> bytes:
    """``data`` with true RIFF and data-chunk sizes.

    OpenAI streams WAV with both sizes set to 0xFFFFFFFF (the length is unknown when the
    header goes out); strict readers (Python's ``wave``) then see hours of audio. Anything
    that is not RIFF/WAVE is returned as is (its format is found by probing later).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"data":
            real = len(data) - pos - 8
            if size != real:
                data = data[:pos + 4] + struct.pack("<I", real) + data[pos + 8:]
            break
        pos += 8 + size + (size & 1)
    return data[:4] + struct.pack("<I", len(data) - 8) + data[8:]


def silent_wav(seconds: float, rate: int = 24000) -> bytes:
    pcm = bytes(2 * int(rate * seconds))
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1,
                         rate, rate * 2, 2, 16, b"data", len(pcm))
    return header + pcm


def write_audio(out_path: Path, data: bytes) -> Path:
    try:
        with atomic_path(out_path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise MediaError(f"cannot write {out_path.name}: {exc}") from exc
    return out_path

