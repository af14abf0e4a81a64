"""A loopback fake of the OpenAI API, faithful on the wire, for driving the real ``openai`` SDK.

Endpoints: ``POST /v1/responses``, ``/v1/chat/completions``, ``/v1/audio/speech`` and
``/v1/audio/transcriptions`` (multipart). Replies have the real JSON shapes; errors use
the real envelope ``{"error": {"message", "type", "param", "code"}}`` with the real
status codes (401 without the right ``Authorization: Bearer`` key, 429 with
``retry-after``, 500, 400, 413). Point a client at it with ``base_url=f"{fake.url}/v1"``.

How the fake writes a script (its contract with ``storyreel.providers.openai_script``):

* the number of segments is the ``minItems`` of ``segments`` in the request's JSON schema
  (``text.format.schema`` or ``response_format.json_schema.schema``); failing that,
  "exactly N segments" in the instructions; failing that, 3;
* the language is "language code: xx" in the instructions; failing that, Cyrillic in the
  user's first message means Russian, anything else English;
* each segment's text has "about N words" (from the instructions; else 10) and is about
  the user's first message; image and animation prompts are in English;
* when the schema has them (or there is no schema), the reply also has a ``look`` (in
  English) and ``highlights``: as many segment numbers (from 1) as the schema's
  ``minItems``, every third segment first;
* a revision is a request whose instructions speak of the "current script": the assistant
  message before the user's note is that script (JSON), the user message after the
  first is the note. The reply is the current script with the note applied: "shorter"
  halves every segment's text, "longer" adds to each, any other note starts every
  segment's text with the note's words; the title and look are kept.

A strict JSON schema is checked as OpenAI checks it: every object must list all its
properties in ``required`` and set ``additionalProperties`` to false (else 400
``invalid_json_schema``).

Speech is a real WAV (24 kHz mono 16-bit, with the 0xFFFFFFFF sizes OpenAI streams)
lasting ``len(input) / chars_per_second`` seconds; other formats are encoded by FFmpeg. An
unknown ``voice`` is a 400 ``invalid_value`` listing the voices; ``instructions`` to
``tts-1`` / ``tts-1-hd`` a 400 ``unsupported_parameter``.
Transcription answers ``transcript_text``.

Faults: ``fake.fault(kind, times=1, endpoint=None, ...)`` makes the next ``times`` calls
(None: every call) to ``endpoint`` (None: any) go wrong. Kinds: "rate_limit" (429,
``retry_after`` seconds in ``retry-after``), "server_error" (500), "quota" (429
insufficient_quota), "auth" (401), "bad_request" (400, ``code``, default a content-policy
refusal), "slow" (answer after ``latency`` s), and for scripts "malformed_json",
"wrong_count" (one segment too many), "bad_highlights" (numbers out of range, repeated and
too few), "refusal"; for transcription "empty_text". ``fake.latency`` delays every
call. ``fake.count(endpoint)`` counts calls, failed ones included.

The Realtime API (``GET /v1/realtime`` upgraded to a WebSocket) is served on the same port by
``tests/fakes/openai_realtime.py``; its faults are queued with ``fake.realtime_fault(...)``.

Run alone: ``python -m tests.fakes.openai_server --port 8081 [--api-key K]``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import struct
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .server import FakeServer, Reply, Request, serve_forever_cli

DEFAULT_KEY = "sk-test-fake-openai-key-0123456789"
ENDPOINTS = {
    "/v1/responses": "responses",
    "/v1/chat/completions": "chat",
    "/v1/audio/speech": "speech",
    "/v1/audio/transcriptions": "transcriptions",
}
FAULT_KINDS = {"rate_limit", "server_error", "quota", "auth", "bad_request", "slow",
               "malformed_json", "wrong_count", "bad_highlights", "refusal", "incomplete", "empty_text"}
#: reasoning efforts each family takes (what the API lists in its "Supported values" error)
_EFFORTS = {"gpt-6": ("none", "low", "medium", "high", "xhigh", "max"),
            "gpt-5": ("minimal", "low", "medium", "high"),
            "o": ("low", "medium", "high")}
_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
             "logit_bias")
#: the models the fake knows, with OpenAI's announced shutdown dates (None: none announced)
MODELS: dict[str, str | None] = {
    "gpt-6-luna": None, "gpt-6-sol": None, "gpt-5.5": None, "gpt-5.4-mini": None,
    "gpt-4.1-mini": "2027-01-14", "gpt-4.1": "2027-01-14", "gpt-4o": "2027-01-14", "gpt-4o-mini": "2027-01-14",
    "gpt-4.1-nano": "2026-10-23", "o3": "2026-12-11",
    "gpt-realtime-2.1-mini": None, "gpt-realtime-2.1": None, "gpt-realtime-mini": None,
    "tts-1": "2027-01-06", "tts-1-hd": "2027-01-06", "gpt-4o-mini-tts": "2027-01-06",
    "gpt-transcribe": None, "gpt-4o-mini-transcribe": "2027-02-26", "gpt-4o-transcribe": "2027-02-26",
    "whisper-1": "2027-02-26",
}
#: models that reason (they refuse sampling parameters; only they take ``reasoning``)
REASONING_PREFIXES = ("gpt-6", "gpt-5", "o1", "o3", "o4", "gpt-realtime-2")
#: the only models /v1/audio/speech serves (all shut down on 2027-01-06)
SPEECH_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
SPEECH_RATE = 24000
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
          "marin", "cedar")
TRANSCRIBE_FORMATS = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"]
TRANSCRIBE_MAX_BYTES = 25 * 1024 * 1024
_MAGIC = {"ogg": b"OggS", "oga": b"OggS", "wav": b"RIFF", "flac": b"fLaC"}
_SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                 "wav": "audio/wav", "pcm": "audio/pcm"}


@dataclass
class Fault:
    """One configured failure; ``times`` None means forever."""

    kind: str
    times: int | None = 1
    endpoint: str | None = None
    retry_after: float | None = None
    latency: float = 0.0
    code: str | None = None


class FakeOpenAI(FakeServer):
    """The fake. ``api_key`` is the key it accepts; ``leak_key_in_errors`` makes its 401
    echo the key it was sent in full (OpenAI masks it), to prove the client side scrubs."""

    def __init__(self, port: int = 0, *, api_key: str = DEFAULT_KEY, latency: float = 0.0,
                 transcript_text: str = "Сделай видео о том, как строили московское метро.",
                 chars_per_second: float = 15.0) -> None:
        super().__init__(port)
        self.api_key = api_key
        self.latency = latency
        self.transcript_text = transcript_text
        self.chars_per_second = chars_per_second
        self.leak_key_in_errors = False
        self.counts: Counter[str] = Counter()
        self.uploads: list[dict] = []  # what each transcription request carried
        self._faults: list[Fault] = []
        self._flock = threading.Lock()
        #: model id → shutdown date ("YYYY-MM-DD") or None; a model past its date is refused
        self.models: dict[str, str | None] = dict(MODELS)
        #: what "today" is for shutdown dates (tests move it); None: the real date
        self.today: str | None = None

    # ---- configuration ----
    def fault(self, kind: str, *, times: int | None = 1, endpoint: str | None = None,
              retry_after: float | None = None, latency: float = 0.0, code: str | None = None) -> Fault:
        """Queue a fault (see the module docstring); faults are consumed in order."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        if endpoint is not None and endpoint not in (*ENDPOINTS.values(), "models"):
            raise ValueError(f"unknown endpoint {endpoint!r}")
        fault = Fault(kind, times, endpoint, retry_after, latency, code)
        with self._flock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._flock:
            self._faults.clear()

    def websocket(self, request: Request, handler) -> None:
        """``GET /v1/realtime?model=…`` upgraded to a WebSocket: the Realtime API."""
        from .openai_realtime import serve_realtime

        serve_realtime(self, request, handler)

    def retired(self, model: str) -> bool:
        """True when ``model``'s shutdown date has come (it then answers as a removed model)."""
        date = self.models.get(model)
        return date is not None and date <= (self.today or time.strftime("%Y-%m-%d", time.gmtime()))

    # ---- the Realtime API (served by tests/fakes/openai_realtime.py) ----
    #: seconds before each realtime response's first audio; audio seconds streamed a second (0: at once)
    realtime_latency: float = 0.0
    realtime_speed: float = 0.0

    def realtime_fault(self, kind: str, *, times: int | None = 1, latency: float = 0.0,
                       code: str | None = None) -> Fault:
        """Queue a fault for the next ``times`` realtime responses ("error", "drop", "paraphrase",
        "slow"; see ``tests/fakes/openai_realtime.py``); ``clear_faults`` clears these too."""
        from .openai_realtime import REALTIME_FAULTS

        if kind not in REALTIME_FAULTS:
            raise ValueError(f"unknown realtime fault {kind!r}")
        fault = Fault(kind, times, "realtime", None, latency, code)
        with self._flock:
            self._faults.append(fault)
        return fault

    @property
    def realtime_connections(self) -> int:
        """Realtime WebSocket sessions accepted so far (``count("realtime")`` counts responses)."""
        return self.count("realtime_connections")

    @property
    def realtime_peak(self) -> int:
        """The most realtime sessions that were open at once."""
        return self.count("realtime_peak")

    def count(self, endpoint: str) -> int:
        """Calls made to ``endpoint`` ("responses", "chat", "speech", "transcriptions")."""
        with self._flock:
            return self.counts[endpoint]

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._flock:
            for fault in self._faults:
                if fault.endpoint in (None, endpoint) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # ---- dispatch ----
    def handle(self, request: Request) -> Reply:
        if self.latency:
            time.sleep(self.latency)
        path = request.path.rstrip("/")
        if request.method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            return self._models(request, path)
        endpoint = ENDPOINTS.get(path)
        if request.method != "POST" or endpoint is None:
            return _error(404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error")
        with self._flock:
            self.counts[endpoint] += 1
        refused = self._authorized(request)
        if refused is not None:
            return refused
        fault = self._take_fault(endpoint)
        if fault is not None:
            reply = self._fault_reply(fault, endpoint, self.api_key)
            if reply is not None:
                return reply
        if endpoint == "transcriptions":
            return self._transcribe(request, fault)
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                          "aren't using your HTTP library correctly.)", "invalid_request_error")
        if not isinstance(body, dict) or not body.get("model"):
            return _error(400, "you must provide a model parameter", "invalid_request_error", param="model")
        gone = self._model_gone(str(body["model"]))
        if gone is not None:
            return gone
        if endpoint == "speech":
            return self._speech(body)
        return self._script(endpoint, body, fault)

    # ---- models ----
    def _authorized(self, request: Request) -> Reply | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return _error(401, "You didn't provide an API key. You need to provide your API key in an "
                          "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                          "invalid_request_error")
        if auth[7:] != self.api_key:
            return self._bad_key(auth[7:])
        return None

    def _models(self, request: Request, path: str) -> Reply:
        """``GET /v1/models`` and ``GET /v1/models/{id}``: each model with its ``shutdown_date``."""
        with self._flock:
            self.counts["models"] += 1
        refused = self._authorized(request)
        if refused is not None:
            return refused
        fault = self._take_fault("models")
        if fault is not None:
            reply = self._fault_reply(fault, "models", self.api_key)
            if reply is not None:
                return reply
        if path == "/v1/models":
            return _ok({"object": "list", "data": [_model(m, d) for m, d in self.models.items()
                                                   if not self.retired(m)]})
        model = path[len("/v1/models/"):]
        if model not in self.models:
            return _error(404, f"The model '{model}' does not exist", "invalid_request_error", param="model",
                          code="model_not_found")
        # a model past its date is still described (its date tells why calls to it fail)
        return _ok(_model(model, self.models[model]))

    def _model_gone(self, model: str) -> Reply | None:
        """The answer OpenAI gives a call to a model it does not serve (unknown or shut down)."""
        if model in self.models and not self.retired(model):
            return None
        if model not in self.models and not any(model.startswith(f"{m}-") for m in self.models):
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                          "invalid_request_error", code="model_not_found")
        if model in self.models:
            return _error(404, f"The model `{model}` has been deprecated, learn more here: "
                          "https://platform.openai.com/docs/deprecations", "invalid_request_error",
                          code="model_not_found")
        return None  # a dated snapshot of a known model

    def _bad_key(self, key: str) -> Reply:
        shown = key if self.leak_key_in_errors else f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}"
        return _error(401, f"Incorrect API key provided: {shown}. You can find your API key at "
                      "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                      code="invalid_api_key")

    def _fault_reply(self, fault: Fault, endpoint: str, key: str) -> Reply | None:
        if fault.kind == "slow":
            time.sleep(fault.latency)
            return None
        if fault.kind == "rate_limit":
            wait = 1.0 if fault.retry_after is None else fault.retry_after
            headers = {"x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0",
                       "x-ratelimit-reset-requests": f"{wait:g}s"}
            if fault.retry_after is not None:
                headers["retry-after"] = f"{fault.retry_after:g}"
            return _error(429, f"Rate limit reached for requests per min (RPM) in organization org-fake: "
                          f"Limit 3, Used 3, Requested 1. Please try again in {wait:g}s.",
                          "requests", code="rate_limit_exceeded", headers=headers)
        if fault.kind == "quota":
            return _error(429, "You exceeded your current quota, please check your plan and billing details. "
                          "For more information on this error, read the docs: "
                          "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                          "insufficient_quota", code="insufficient_quota")
        if fault.kind == "server_error":
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            return _error(500, "The server had an error while processing your request. Sorry about that!",
                          "server_error", headers=headers)
        if fault.kind == "auth":
            return self._bad_key(key + "-revoked")
        if fault.kind == "bad_request":
            return _error(400, "Your request was rejected as a result of our safety system.",
                          "invalid_request_error", code=fault.code or "content_policy_violation")
        return None  # content faults are applied by the endpoint itself

    # ---- scripts ----
    def _script(self, endpoint: str, body: dict, fault: Fault | None) -> Reply:
        if endpoint == "responses":
            instructions = str(body.get("instructions") or "")
            conversation = body.get("input")
            fmt = (body.get("text") or {}).get("format") or {}
        else:
            conversation = body.get("messages") or []
            instructions = " ".join(_texts(conversation, roles=("system", "developer")))
            fmt = (body.get("response_format") or {}).get("json_schema") or {}
        user_texts = _texts(conversation, roles=("user",))
        schema = fmt.get("schema") or {}
        if not user_texts:
            return _error(400, "Missing required parameter: 'input'.", "invalid_request_error",
                          param="input", code="missing_required_parameter")
        refused = _check_reasoning(endpoint, body)
        if refused is not None:
            return refused
        if fmt.get("strict"):
            wrong = _strict_schema_problem(schema)
            if wrong is not None:
                return _error(400, f"Invalid schema for response_format '{fmt.get('name')}': {wrong}",
                              "invalid_request_error",
                              param="response_format" if endpoint == "chat" else "text.format.schema",
                              code="invalid_json_schema")
        count = _segment_count(schema, instructions)
        kind = fault.kind if fault is not None else None
        language, words = _language(instructions, user_texts[0]), _words(instructions)
        current = _current_script(conversation) if "current script" in instructions else None
        if current is not None and len(user_texts) > 1:
            script = revise_script(current, user_texts[1], count, topic=user_texts[0], language=language,
                                   words=words, highlights=_highlight_count(schema, count))
        else:
            script = write_script(user_texts[0], count, language=language, words=words,
                                  highlights=_highlight_count(schema, count))
        if kind == "wrong_count":
            script["segments"].append(dict(script["segments"][-1]))
        if kind == "bad_highlights":
            script["highlights"] = [0, count + 3, 1, 1]
        wanted = (schema.get("properties") or {}).keys()
        if wanted:  # the model writes what the schema asks for, nothing else
            script = {key: value for key, value in script.items() if key in wanted}
        text = json.dumps(script, ensure_ascii=False)
        if kind == "malformed_json":
            text = text[: len(text) // 2]  # cut off mid-way, as a truncated generation is
        refusal = "I'm sorry, but I can't help with that request." if kind == "refusal" else None
        used_in = _tokens(instructions + " ".join(user_texts))
        effort = _effort(endpoint, body)
        reasoning = {"none": 0, "minimal": 16, "low": 120, "medium": 600, "high": 2400}.get(effort or "", 4000)
        if _family(str(body["model"])) is None:
            reasoning = 0
        if kind == "incomplete":  # the output budget ran out: reasoning took it, the text is cut off
            text = text[: len(text) // 3]
        used_out = _tokens(refusal or text) + reasoning
        model = _snapshot(str(body["model"]))
        if endpoint == "chat":
            reply = _chat_completion(model, None if refusal else text, refusal, used_in, used_out, reasoning)
            if kind == "incomplete":
                reply["choices"][0]["finish_reason"] = "length"
            return _ok(reply)
        reply = _response(model, body, text, refusal, used_in, used_out, reasoning)
        if kind == "incomplete":
            reply.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"}, completed_at=None)
            reply["output"][-1]["status"] = "incomplete"
        return _ok(reply)

    # ---- speech ----
    def _speech(self, body: dict) -> Reply:
        text, voice, fmt = body.get("input"), body.get("voice"), body.get("response_format", "mp3")
        model = str(body["model"])
        if not any(model == m or model.startswith(f"{m}-") for m in SPEECH_MODELS):
            listed = ", ".join(f"'{m}'" for m in SPEECH_MODELS)
            return _error(400, f"Invalid value: '{model}'. Supported values are: {listed}.",
                          "invalid_request_error", param="model", code="invalid_value")
        if not isinstance(text, str) or not text:
            return _error(400, "Missing required parameter: 'input'.", "invalid_request_error", param="input",
                          code="missing_required_parameter")
        if len(text) > 4096:
            return _error(400, "[{'type': 'string_too_long', 'loc': ('body', 'input'), 'msg': 'String should "
                          "have at most 4096 characters', 'ctx': {'max_length': 4096}}]", "invalid_request_error",
                          param="input", code="string_above_max_length")
        if isinstance(voice, dict) and set(voice) == {"id"} and isinstance(voice["id"], str):
            pass  # a custom voice, by its id
        elif voice is None:
            return _error(400, "Missing required parameter: 'voice'.", "invalid_request_error", param="voice",
                          code="missing_required_parameter")
        elif voice not in VOICES:
            listed = ", ".join(f"'{v}'" for v in VOICES[:-1])
            return _error(400, f"Invalid value: '{voice}'. Supported values are: {listed}, and '{VOICES[-1]}'.",
                          "invalid_request_error", param="voice", code="invalid_value")
        instructions = body.get("instructions")
        if instructions is not None and model.startswith("tts-1"):  # only the newer models take instructions
            return _error(400, "Unsupported parameter: 'instructions' is not supported with this model.",
                          "invalid_request_error", param="instructions", code="unsupported_parameter")
        if instructions is not None and not isinstance(instructions, str):
            return _error(400, f"Invalid type for 'instructions': expected a string, but got "
                          f"{type(instructions).__name__} instead.", "invalid_request_error", param="instructions",
                          code="invalid_type")
        if isinstance(instructions, str) and len(instructions) > 4096:
            return _error(400, f"Invalid 'instructions': string too long. Expected a string with maximum length "
                          f"4096, but got a string with length {len(instructions)} instead.",
                          "invalid_request_error", param="instructions", code="string_above_max_length")
        if fmt not in _SPEECH_TYPES:
            return _error(400, f"Invalid value for 'response_format': {fmt!r}.", "invalid_request_error",
                          param="response_format", code="invalid_value")
        seconds = max(0.3, len(text) / self.chars_per_second)
        return Reply(200, speech_audio(fmt, round(seconds, 2)), {"Content-Type": _SPEECH_TYPES[fmt],
                                                                 **_common_headers()})

    # ---- transcription ----
    def _transcribe(self, request: Request, fault: Fault | None) -> Reply:
        if len(request.body) > TRANSCRIBE_MAX_BYTES + 1024 * 1024:
            return _error(413, f"Maximum content size limit ({TRANSCRIBE_MAX_BYTES}) exceeded "
                          f"({len(request.body)} bytes read)", "server_error")
        fields, files = parse_multipart(request.body, request.headers.get("content-type", ""))
        upload = files.get("file")
        self.uploads.append({"fields": fields, "filename": upload and upload[0],
                             "content_type": upload and upload[1], "size": upload and len(upload[2])})
        if not fields.get("model"):
            return _error(400, "you must provide a model parameter", "invalid_request_error", param="model")
        if upload is None:
            return _error(400, "Missing required parameter: 'file'.", "invalid_request_error", param="file",
                          code="missing_required_parameter")
        name, _ctype, data = upload
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in TRANSCRIBE_FORMATS:
            return _error(400, f"Invalid file format. Supported formats: {TRANSCRIBE_FORMATS}",
                          "invalid_request_error", param="file", code="invalid_value")
        if len(data) > TRANSCRIBE_MAX_BYTES:
            return _error(413, f"Maximum content size limit ({TRANSCRIBE_MAX_BYTES}) exceeded "
                          f"({len(data)} bytes read)", "server_error")
        if ext in _MAGIC and not data.startswith(_MAGIC[ext]):
            return _error(400, "Audio file might be corrupted or unsupported", "invalid_request_error",
                          param="file", code="invalid_value")
        text = "" if fault is not None and fault.kind == "empty_text" else self.transcript_text
        if fields.get("response_format") == "text":
            return Reply(200, f"{text}\n".encode(), {"Content-Type": "text/plain; charset=utf-8"})
        if fields["model"] == "whisper-1":
            usage = {"type": "duration", "seconds": math.ceil(_audio_seconds(data))}
        else:
            audio_tokens = max(1, round(_audio_seconds(data) * 10))
            usage = {"type": "tokens", "input_tokens": audio_tokens, "output_tokens": _tokens(text),
                     "total_tokens": audio_tokens + _tokens(text),
                     "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens}}
        return _ok({"text": text, "usage": usage})


# ---- wire shapes -----------------------------------------------------------------------
def _common_headers() -> dict[str, str]:
    return {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-version": "2020-10-01",
            "openai-processing-ms": "12", "openai-organization": "org-fake"}


def _ok(data: dict) -> Reply:
    return Reply.json(data, 200, _common_headers())


def _error(status: int, message: str, type_: str, *, param: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None) -> Reply:
    envelope = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Reply.json(envelope, status, {**_common_headers(), **(headers or {})})


def _family(model: str) -> str | None:
    """The reasoning family of ``model`` ("gpt-6", "gpt-5", "o"), None when it does not reason."""
    for prefix in ("gpt-6", "gpt-5"):
        if model.startswith(prefix):
            return prefix
    return "o" if re.match(r"o\d", model) else None


def _effort(endpoint: str, body: dict) -> str | None:
    if endpoint == "chat":
        return body.get("reasoning_effort")
    return (body.get("reasoning") or {}).get("effort")


def _check_reasoning(endpoint: str, body: dict) -> Reply | None:
    """What the API says to parameters a model does not take: reasoning models refuse
    sampling parameters (and ``max_tokens`` in Chat Completions); other models refuse a
    reasoning effort; an effort the family does not know is an unsupported value."""
    family = _family(str(body["model"]))
    name = "reasoning_effort" if endpoint == "chat" else "reasoning.effort"
    effort = _effort(endpoint, body)
    if family is None:
        if effort is not None:
            return _error(400, f"Unsupported parameter: '{name}' is not supported with this model.",
                          "invalid_request_error", param=name, code="unsupported_parameter")
        return None
    for param in _SAMPLING:
        if param in body and body[param] is not None:
            return _error(400, f"Unsupported parameter: '{param}' is not supported with this model.",
                          "invalid_request_error", param=param, code="unsupported_parameter")
    if endpoint == "chat" and body.get("max_tokens") is not None:
        return _error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                      "'max_completion_tokens' instead.", "invalid_request_error", param="max_tokens",
                      code="unsupported_parameter")
    allowed = _EFFORTS[family]
    if effort is not None and effort not in allowed:
        listed = ", ".join(f"'{e}'" for e in allowed[:-1]) + f", and '{allowed[-1]}'"
        return _error(400, f"Unsupported value: '{name}' does not support '{effort}' with this model. "
                      f"Supported values are: {listed}.", "invalid_request_error", param=name,
                      code="unsupported_value")
    return None


def _model(model: str, shutdown_date: str | None) -> dict:
    return {"id": model, "object": "model", "created": 1767225600, "owned_by": "system",
            "shutdown_date": shutdown_date}


def _response(model: str, body: dict, text: str, refusal: str | None, used_in: int, used_out: int,
              reasoning: int = 0) -> dict:
    content = ({"type": "refusal", "refusal": refusal} if refusal
               else {"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    now = int(time.time())
    return {
        "id": f"resp_{uuid.uuid4().hex}", "object": "response", "created_at": now, "completed_at": now,
        "status": "completed", "background": False, "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None, "model": model,
        "output": [{"id": f"msg_{uuid.uuid4().hex}", "type": "message", "status": "completed",
                    "role": "assistant", "content": [content]}],
        "parallel_tool_calls": True, "previous_response_id": None, "prompt_cache_key": None,
        "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
        "safety_identifier": None, "service_tier": "default",
        "store": body.get("store", True), "temperature": 1.0,
        "text": {**(body.get("text") or {"format": {"type": "text"}}), "verbosity": "medium"},
        "tool_choice": "auto", "tools": [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
        "usage": {"input_tokens": used_in, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                  "output_tokens": used_out, "output_tokens_details": {"reasoning_tokens": reasoning},
                  "total_tokens": used_in + used_out},
        "user": None, "metadata": {},
    }


def _chat_completion(model: str, text: str | None, refusal: str | None, used_in: int, used_out: int,
                     reasoning: int = 0) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:29]}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": refusal,
                                             "annotations": []},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": used_in, "completion_tokens": used_out, "total_tokens": used_in + used_out,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_fake0000",
    }


def _snapshot(model: str) -> str:
    # the API answers with the dated snapshot it resolved the alias to
    return model if re.search(r"\d{4}-\d{2}-\d{2}$", model) else f"{model}-2025-04-14"


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _texts(messages, *, roles: tuple[str, ...]) -> list[str]:
    """The text of the messages with ``roles`` (a bare string input counts as a user message)."""
    if isinstance(messages, str):
        return [messages] if "user" in roles else []
    out = []
    for msg in messages or []:
        if not isinstance(msg, dict) or msg.get("role") not in roles:
            continue
        content = msg.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if content:
            out.append(str(content))
    return out


def _strict_schema_problem(schema: dict, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI says of a strict schema whose objects do not list every property as
    required or allow other properties (None: the schema is fine)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return f"In context={context}, 'additionalProperties' is required to be supplied and to be false."
        required = schema.get("required")
        missing = [key for key in properties if not isinstance(required, list) or key not in required]
        if missing:
            return (f"In context={context}, 'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{missing[0]}'.")
        for key, sub in properties.items():
            found = _strict_schema_problem(sub, (*context, "properties", key))
            if found:
                return found
    if isinstance(schema.get("items"), dict):
        return _strict_schema_problem(schema["items"], (*context, "items"))
    return None


def _current_script(conversation) -> dict | None:
    """The script a revision request shows back: its first assistant message, as JSON."""
    for text in _texts(conversation, roles=("assistant",)):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) and isinstance(data.get("segments"), list) else None
    return None


def _highlight_count(schema: dict, count: int) -> int:
    wanted = ((schema.get("properties") or {}).get("highlights") or {}).get("minItems")
    return wanted if isinstance(wanted, int) and wanted > 0 else min(12, count)


def _segment_count(schema: dict, instructions: str) -> int:
    items = ((schema.get("properties") or {}).get("segments") or {}).get("minItems")
    if isinstance(items, int) and items > 0:
        return items
    found = re.search(r"exactly (\d+) segments", instructions)
    return int(found.group(1)) if found else 3


def _language(instructions: str, prompt: str) -> str:
    found = re.search(r"language code:\s*([a-z]{2})", instructions)
    if found:
        return found.group(1)
    return "ru" if re.search(r"[\u0400-\u04FF]", prompt) else "en"


def _words(instructions: str) -> int:
    found = re.search(r"about (\d+) words", instructions)
    return int(found.group(1)) if found else 10


# ---- content ---------------------------------------------------------------------------
_STORY = {
    "en": ("Long ago {topic} was only an idea in a few curious minds. People met to talk about it, to argue "
           "and to dream. Slowly the idea grew into something everyone could see. Builders, artists and "
           "travellers each added a piece of their own. Some days went well and others brought storms and "
           "doubts. Yet every setback taught a lesson worth keeping. Today {topic} tells a story of patience "
           "and courage, and that story goes on."),
    "ru": ("Давным-давно тема «{topic}» была лишь мечтой немногих любопытных людей. Они собирались, спорили и "
           "строили планы. Понемногу мечта превращалась в то, что видел каждый. Строители, художники и "
           "путешественники добавляли что-то своё. Одни дни приносили удачу, другие бури и сомнения. Но каждая "
           "неудача учила чему-то важному. Сегодня это история о терпении и смелости, и она продолжается."),
}
_LEAD = re.compile(r"^((please|пожалуйста)\s+)?((make|create|сделай|создай)\s+)?((me|мне)\s+)?(a\s+)?"
                   r"(video|видео|ролик)\s+(about|on|of|о|об|про)\s+", re.I)
_MOTIONS = ["Slow push-in toward the subject.", "Gentle pan from left to right.", "Slow pull-back revealing "
            "the scene.", "Soft tilt upward with drifting light.", "Subtle parallax as the camera glides."]


_SHORTER = re.compile(r"\b(short\w*|brief\w*|коротк\w*|короче|покороче|сократ\w*)", re.I)
_LONGER = re.compile(r"\b(long\w*|expand\w*|длинн\w*|подробн\w*)", re.I)
_MORE = {"en": "There is more to tell here.", "ru": "Здесь есть что добавить."}


def _topic(prompt: str) -> str:
    topic = _LEAD.sub("", " ".join(re.sub(r"[^\w\s-]", " ", prompt).split()))
    return " ".join(topic.split()[:8]) or "the story"


def _english(topic: str) -> str:
    return topic if not re.search(r"[\u0400-\u04FF]", topic) else "the subject of the story"


def _highlights(count: int, wanted: int) -> list[int]:
    """``wanted`` segment numbers (from 1): every third segment first, then the rest."""
    order = [i for i in range(count) if i % 3 == 2] + [i for i in range(count) if i % 3 != 2]
    return [i + 1 for i in order[:max(0, min(wanted, count))]]


def write_script(prompt: str, count: int, *, language: str, words: int, highlights: int | None = None) -> dict:
    """A plausible script: ``count`` segments of about ``words`` words about ``prompt``,
    with a look and ``highlights`` segment numbers (default: 12, or every segment)."""
    topic = _topic(prompt)
    story = _STORY.get(language, _STORY["en"]).format(topic=topic).split()
    english_topic = _english(topic)
    segments = []
    for i in range(count):
        chunk = [story[(i * words + k) % len(story)] for k in range(max(1, words))]
        text = " ".join(chunk).rstrip(",.;:!?")
        segments.append({
            "text": text[:1].upper() + text[1:] + ".",
            "image_prompt": f"Cinematic illustration, scene {i + 1} of {count}: {english_topic}, "
                            "soft natural light, rich colour, painterly style, no text",
            "animation_prompt": _MOTIONS[i % len(_MOTIONS)],
        })
    look = (f"{english_topic[:1].upper() + english_topic[1:]}, with one recurring figure in a long blue coat, "
            "painterly style, warm golden light, rich colour")
    return {"title": topic[:1].upper() + topic[1:], "look": look, "segments": segments,
            "highlights": _highlights(count, min(12, count) if highlights is None else highlights)}


def revise_script(current: dict, note: str, count: int, *, topic: str, language: str, words: int,
                  highlights: int | None = None) -> dict:
    """``current`` with ``note`` applied (see the module docstring), ``count`` segments."""
    fresh = write_script(topic, count, language=language, words=words, highlights=highlights)
    segments = [dict(seg) for seg in current.get("segments") or [] if isinstance(seg, dict)]
    segments = (segments + fresh["segments"][len(segments):])[:count]
    note_words = " ".join(re.sub(r"[^\w\s-]", " ", note).split()).split()
    for seg in segments:
        text = str(seg.get("text") or "").split()
        if _SHORTER.search(note):
            kept = text[: max(1, len(text) // 2)]
        elif _LONGER.search(note):
            kept = [*text, *_MORE.get(language, _MORE["en"]).split()]
        else:
            kept = [*note_words, "—", *text[: max(1, words - len(note_words))]]
        seg["text"] = " ".join(kept).rstrip(",.;:!?—") + "."
        seg["text"] = seg["text"][:1].upper() + seg["text"][1:]
    return {"title": current.get("title") or fresh["title"], "look": current.get("look") or fresh["look"],
            "segments": segments, "highlights": fresh["highlights"]}


@lru_cache(maxsize=64)
def speech_audio(fmt: str, seconds: float) -> bytes:
    """``seconds`` of a voice-like tone in ``fmt``; WAV as OpenAI streams it (sizes 0xFFFFFFFF)."""
    t = np.arange(int(SPEECH_RATE * seconds)) / SPEECH_RATE
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)  # syllable-like loudness changes
    pcm = (0.3 * 32767 * envelope * np.sin(2 * np.pi * 180 * t)).astype("<i2").tobytes()
    if fmt == "pcm":
        return pcm
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16, 1, 1, SPEECH_RATE,
                         SPEECH_RATE * 2, 2, 16, b"data", 0xFFFFFFFF)
    if fmt == "wav":
        return header + pcm
    from storyreel.media.ffmpeg import ffmpeg_binary

    codec = {"mp3": ["-c:a", "libmp3lame", "-f", "mp3"], "opus": ["-c:a", "libopus", "-f", "ogg"],
             "aac": ["-c:a", "aac", "-f", "adts"], "flac": ["-c:a", "flac", "-f", "flac"]}[fmt]
    return subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar",
                           str(SPEECH_RATE), "-ac", "1", "-i", "pipe:0", *codec, "pipe:1"],
                          input=pcm, capture_output=True, check=True, timeout=60).stdout


def _audio_seconds(data: bytes) -> float:
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if container.duration is not None:
                return container.duration / av.time_base
            return sum(float(f.duration * f.time_base) for f in container.demux(audio=0) if f.duration)
    except (av.FFmpegError, ValueError, IndexError):
        return 0.0


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    """Form fields and files ({name: (filename, content type, bytes)}) of a multipart body."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found:
        return {}, {}
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in body.split(b"--" + found.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if not name:
            continue
        if filename:
            files[name.group(1)] = (filename.group(1), headers.get("content-type", ""), data)
        else:
            fields[name.group(1)] = data.decode("utf-8", "replace")
    return fields, files


def _from_cli(port: int, argv: list[str]) -> FakeOpenAI:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-key", default=DEFAULT_KEY)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--transcript", default=None)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(port, api_key=args.api_key, latency=args.latency)
    if args.transcript is not None:
        fake.transcript_text = args.transcript
    return fake


if __name__ == "__main__":
    serve_forever_cli(_from_cli, "A fake OpenAI API on loopback")
