"""The Realtime API of the fake OpenAI server: ``GET /v1/realtime?model=…`` upgraded to a WebSocket.

Served on the same host and port as ``FakeOpenAI`` (``tests/fakes/server.py`` hands the
upgrade to ``FakeOpenAI.websocket``, which calls ``serve_realtime``), so a client built with
``base_url=f"{fake.url}/v1"`` reaches it through ``client.realtime.connect(model=…)``.

The WebSocket layer is ``websockets``' sans-I/O ``ServerProtocol`` run over the handler's
socket: the opening handshake (``Sec-WebSocket-Accept``), masking, fragmented messages,
ping/pong and the closing handshake are its, not ours. A refused upgrade is plain HTTP:
401 with OpenAI's error envelope for a missing or wrong key, 404 for another path.

Events have the names and fields of the SDK's ``openai/types/realtime`` models. On
connect: ``session.created``; then, for each client event:

* ``session.update`` → ``session.updated`` with the whole effective session, after a
  strict check (unknown fields, output modalities, audio formats, voices, turn detection);
* ``response.create`` → ``response.created``, ``response.output_item.added``,
  ``response.content_part.added``, interleaved ``response.output_audio_transcript.delta``
  and ``response.output_audio.delta`` (base64 PCM16, 24 kHz, ``len(text) /
  chars_per_second`` seconds), ``response.output_audio.done``,
  ``response.output_audio_transcript.done``, ``response.content_part.done``,
  ``response.output_item.done`` and ``response.done`` with ``usage`` (about 4 characters a
  text token, 20 audio tokens a second, as OpenAI counts output audio). It reads aloud the last user message of
  ``response.input`` (an out-of-band response) or of the conversation. With
  ``conversation: "auto"`` the items join the conversation (``conversation.item.added``…);
  with ``"none"`` they do not;
* ``conversation.item.create`` / ``.delete`` / ``.retrieve``, ``input_audio_buffer.append``
  / ``.clear`` / ``.commit``, ``response.cancel`` (nothing is ever in progress between
  events: the fake answers one event at a time, so it is an error, as OpenAI's is);
* anything else → an ``error`` event (``invalid_request_error``, ``invalid_value`` on
  ``type``), as OpenAI sends; the session stays open. (``conversation.item.truncate`` and
  ``output_audio_buffer.clear`` are real but not modelled: an error with code
  ``fake_unsupported``.)

An unknown model (not in ``fake.models``), one that is not a realtime model, or a retired
one (``fake.retired``) gets an ``error`` event with OpenAI's code and message, then a close.

Configuration (on ``FakeOpenAI``): ``realtime_latency`` seconds before each response's
first audio; ``realtime_speed`` audio seconds streamed per wall second (0: at once);
``realtime_fault(kind, times=1, latency=0, code=None)`` for the next ``times`` responses:
"error" (an ``error`` event instead of the response; ``code`` "server_error" — the
default —, "rate_limit_exceeded", "insufficient_quota", "invalid_request_error" or
"content_policy_violation"), "drop" (the TCP connection closes, without a close frame,
after a few audio deltas), "paraphrase" (the audio and transcript say other words than the
text), "slow" (``latency`` more seconds before the first audio). Counters:
``fake.count("realtime")`` responses asked for, ``fake.realtime_connections`` sessions
accepted, ``fake.realtime_peak`` most sessions open at once; ``client_events(fake)`` the
client events received, in order; ``spoken(fake)`` what each response said, in which session
and voice, with which instructions.

The voice, as OpenAI's: one of the built-in voices (or a custom ``{"id": …}``), set by
``session.update`` or per response, and fixed once the session has spoken: a different voice
after that is an ``error`` event (``cannot_update_voice``), in either place.
"""

from __future__ import annotations

import base64
import json
import math
import socket
import time
import uuid
import weakref
from collections import deque

from websockets.frames import OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT
from websockets.protocol import State
from websockets.server import ServerProtocol

from .openai_server import SPEECH_RATE, Fault, _error, _tokens, speech_audio

#: output audio is counted at 20 tokens a second of speech
AUDIO_TOKENS_PER_SECOND = 20
REALTIME_FAULTS = {"error", "drop", "paraphrase", "slow"}
#: the built-in voices of the Realtime API (the speech endpoint has three more)
REALTIME_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
_REALTIME_PREFIXES = ("gpt-realtime", "gpt-4o-realtime", "gpt-4o-mini-realtime", "gpt-audio")
_CLIENT_EVENTS = ("session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                  "input_audio_buffer.clear", "conversation.item.create", "conversation.item.truncate",
                  "conversation.item.delete", "conversation.item.retrieve", "response.create", "response.cancel",
                  "output_audio_buffer.clear")
_SESSION_KEYS = {"type", "audio", "include", "instructions", "max_output_tokens", "model", "output_modalities",
                 "parallel_tool_calls", "prompt", "reasoning", "tool_choice", "tools", "tracing", "truncation"}
_RESPONSE_KEYS = {"audio", "conversation", "input", "instructions", "max_output_tokens", "metadata",
                  "output_modalities", "parallel_tool_calls", "prompt", "reasoning", "tool_choice", "tools"}
_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
_EFFORTS = ("minimal", "low", "medium", "high", "xhigh")
_FAULT_ERRORS = {  # fault code → (error type, error code, message)
    "server_error": ("server_error", None, "The server had an error while processing your request. Sorry about "
                     "that! You can retry your request, or contact us through our help center at "
                     "help.openai.com if the error persists."),
    "rate_limit_exceeded": ("tokens", "rate_limit_exceeded", "Rate limit reached for {model} in organization "
                            "org-fake on tokens per min (TPM): Limit 40000, Used 40000, Requested 412. Please try "
                            "again in 1.2s."),
    "insufficient_quota": ("insufficient_quota", "insufficient_quota", "You exceeded your current quota, please "
                           "check your plan and billing details."),
    "invalid_request_error": ("invalid_request_error", None, "The request could not be processed."),
    "content_policy_violation": ("invalid_request_error", "content_policy_violation",
                                 "Your request was rejected as a result of our safety system."),
}
_CHUNK_SECONDS = 0.2  # audio per delta event
_RECEIVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # fake → the client events it got
_SPOKEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # fake → what its responses said


def client_events(fake, kind: str | None = None) -> list[dict]:
    """The client events ``fake``'s realtime sessions received, in order (``kind``: of that type only)."""
    with fake._flock:
        return [e for e in _RECEIVED.get(fake, []) if kind is None or e.get("type") == kind]


def spoken(fake) -> list[dict]:
    """One record per audio response ``fake`` gave, in order: ``session`` (its id), ``voice``,
    ``text`` (what it said) and ``instructions`` (what the response was told)."""
    with fake._flock:
        return list(_SPOKEN.get(fake, []))


class _Invalid(Exception):
    """A client event the real API refuses: becomes an ``error`` event."""

    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_value") -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


class _Gone(Exception):
    """The client went away (or the fault closed the connection): the session ends."""


def serve_realtime(fake, request, handler) -> None:
    """Serve one WebSocket session on ``handler``'s connection until either side closes."""
    refusal = _refusal(fake, request)
    if refusal is not None:
        _send_http(handler, *refusal)
        return
    protocol = ServerProtocol(max_size=16 * 2**20)
    # the handler has parsed the request already: hand it to the protocol as it came
    head = "".join([f"{handler.command} {handler.path} HTTP/1.1\r\n",
                    *(f"{name}: {value}\r\n" for name, value in handler.headers.items()), "\r\n"])
    protocol.receive_data(head.encode("latin-1"))
    response = protocol.accept(protocol.events_received()[0])
    protocol.send_response(response)
    session = _Session(fake, protocol, handler, (request.query.get("model") or [""])[0])
    session.flush()
    if response.status_code != 101:
        return
    with fake._flock:
        fake.counts["realtime_connections"] += 1
        fake.counts["realtime_open"] += 1
        fake.counts["realtime_peak"] = max(fake.counts["realtime_peak"], fake.counts["realtime_open"])
    try:
        session.run()
    except _Gone:
        pass
    finally:
        with fake._flock:
            fake.counts["realtime_open"] -= 1


def _refusal(fake, request) -> tuple[int, bytes] | None:
    if request.path.rstrip("/") != "/v1/realtime":
        reply = _error(404, f"Invalid URL (GET {request.path})", "invalid_request_error")
    else:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            reply = _error(401, "You didn't provide an API key. You need to provide your API key in an "
                           "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                           "invalid_request_error")
        elif auth[7:] != fake.api_key:
            reply = fake._bad_key(auth[7:])
        else:
            return None
    return reply.status, reply.body


def _send_http(handler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _take_fault(fake) -> Fault | None:
    with fake._flock:
        for fault in fake._faults:
            if fault.endpoint == "realtime" and (fault.times is None or fault.times > 0):
                if fault.times is not None:
                    fault.times -= 1
                return fault
    return None


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:22]}"


class _Session:
    """One WebSocket session: the protocol state, the session's configuration, the conversation."""

    def __init__(self, fake, protocol: ServerProtocol, handler, model: str) -> None:
        self.fake, self.protocol, self.handler, self.model = fake, protocol, handler, model
        self.messages: deque[str] = deque()
        self.parts: list[bytes] = []  # a fragmented message so far
        self.items: list[dict] = []  # the default conversation
        self.audio_in = b""
        self.spoke = False  # the voice is fixed once audio went out
        self.config = {
            "type": "realtime", "object": "realtime.session", "id": _id("sess"), "model": model,
            "output_modalities": ["audio"], "instructions": "You are a helpful, witty, and friendly AI.",
            "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None, "truncation": "auto",
            "prompt": None, "expires_at": int(time.time()) + 3600, "include": None,
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                                "noise_reduction": None,
                                "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                                   "silence_duration_ms": 200, "idle_timeout_ms": None,
                                                   "create_response": True, "interrupt_response": True}},
                      "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0}},
        }

    # ---- the wire ----
    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            try:
                if data:
                    self.handler.wfile.write(data)
                else:  # the protocol's end of stream: half-close, as a server does
                    self.handler.connection.shutdown(socket.SHUT_WR)
            except OSError as exc:
                raise _Gone() from exc

    def send(self, event: dict) -> None:
        if self.protocol.state is not State.OPEN:
            raise _Gone()
        self.protocol.send_text(json.dumps({"event_id": _id("event"), **event}).encode())
        self.flush()

    def receive(self) -> str | None:
        """The next whole client message; None once the connection closed."""
        while not self.messages:
            if self.protocol.state is State.CLOSED or self.protocol.close_rcvd is not None:
                return None
            try:
                data = self.handler.rfile.read1(65536)
            except OSError:
                data = b""
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            self.flush()  # pongs, the close reply, a protocol error's close
            for frame in self.protocol.events_received():
                if frame.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                    self.parts.append(frame.data)
                    if frame.fin:
                        self.messages.append(b"".join(self.parts).decode("utf-8", "replace"))
                        self.parts = []
                elif frame.opcode is OP_CLOSE:
                    return None
            if not data:
                return None
        return self.messages.popleft()

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self.flush()
        self.handler.connection.settimeout(2)  # wait (briefly) for the client's close frame
        while self.receive() is not None:
            pass

    def error(self, message: str, type_: str = "invalid_request_error", *, code: str | None = None,
              param: str | None = None, event_id: str | None = None) -> None:
        self.send({"type": "error", "error": {"type": type_, "code": code, "message": message, "param": param,
                                              "event_id": event_id}})

    # ---- the session ----
    def run(self) -> None:
        problem = self._model_problem()
        if problem is not None:
            self.error(problem[1], code=problem[0])
            self.close()
            return
        self.send({"type": "session.created", "session": self.config})
        while (message := self.receive()) is not None:
            try:
                event = json.loads(message)
            except ValueError:
                self.error("We could not parse the JSON body of your request. (HINT: This likely means you "
                           "aren't using your HTTP library correctly.)", code="invalid_json")
                continue
            if not isinstance(event, dict):
                self.error("Invalid type for event: expected an object.", code="invalid_type")
                continue
            with self.fake._flock:
                _RECEIVED.setdefault(self.fake, []).append(event)
            kind, event_id = event.get("type"), event.get("event_id")
            try:
                if kind not in _CLIENT_EVENTS:
                    listed = ", ".join(f"'{e}'" for e in _CLIENT_EVENTS[:-1])
                    raise _Invalid(f"Invalid value: '{kind}'. Supported values are: {listed}, and "
                                   f"'{_CLIENT_EVENTS[-1]}'.", "type")
                getattr(self, "_on_" + kind.replace(".", "_"), self._unsupported)(event)
            except _Invalid as exc:
                self.error(exc.message, code=exc.code, param=exc.param, event_id=event_id)

    def _model_problem(self) -> tuple[str, str] | None:
        known = self.fake.models
        base = self.model if self.model in known else next((m for m in known if self.model.startswith(f"{m}-")), None)
        if not self.model:
            return "missing_required_parameter", "Missing required parameter: 'model'."
        if base is None:
            return "model_not_found", f"The model `{self.model}` does not exist or you do not have access to it."
        if self.fake.retired(base):
            return "model_not_found", (f"The model `{self.model}` has been deprecated, learn more here: "
                                       "https://platform.openai.com/docs/deprecations")
        if not base.startswith(_REALTIME_PREFIXES):
            return "invalid_model", f'Model "{self.model}" is not supported in realtime mode.'
        return None

    def _unsupported(self, event: dict) -> None:
        raise _Invalid(f"The fake Realtime API does not model '{event['type']}'.", None, "fake_unsupported")

    def _on_session_update(self, event: dict) -> None:
        session = event.get("session")
        if not isinstance(session, dict):
            raise _Invalid("Missing required parameter: 'session'.", "session", "missing_required_parameter")
        _check_session(session, self.config, spoke=self.spoke)
        for key, value in session.items():
            if key == "audio":
                for side, conf in value.items():
                    self.config["audio"][side].update(conf)
            else:
                self.config[key] = value
        self.send({"type": "session.updated", "session": self.config})

    def _on_conversation_item_create(self, event: dict) -> None:
        item = {"id": _id("item"), "object": "realtime.item", "status": "completed",
                **_check_item(event.get("item"), "item")}
        previous = self.items[-1]["id"] if self.items else None
        self.items.append(item)
        self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    def _find(self, event: dict) -> dict:
        found = next((i for i in self.items if i["id"] == event.get("item_id")), None)
        if found is None:
            raise _Invalid(f"Item with item_id not found: {event.get('item_id')}", "item_id", "item_not_found")
        return found

    def _on_conversation_item_delete(self, event: dict) -> None:
        self.items.remove(self._find(event))
        self.send({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    def _on_conversation_item_retrieve(self, event: dict) -> None:
        self.send({"type": "conversation.item.retrieved", "item": self._find(event)})

    def _on_input_audio_buffer_append(self, event: dict) -> None:
        try:
            self.audio_in += base64.b64decode(event.get("audio") or "", validate=True)
        except ValueError as exc:
            raise _Invalid("Invalid 'audio'. Expected base64-encoded audio.", "audio") from exc

    def _on_input_audio_buffer_clear(self, event: dict) -> None:
        self.audio_in = b""
        self.send({"type": "input_audio_buffer.cleared"})

    def _on_input_audio_buffer_commit(self, event: dict) -> None:
        ms = len(self.audio_in) / 2 / SPEECH_RATE * 1000
        if ms < 100:
            raise _Invalid("Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                           f"audio, but buffer only has {ms:.2f}ms of audio.", None, "input_audio_buffer_commit_empty")
        item = {"id": _id("item"), "object": "realtime.item", "type": "message", "role": "user",
                "status": "completed", "content": [{"type": "input_audio", "transcript": None}]}
        previous = self.items[-1]["id"] if self.items else None
        self.items.append(item)
        self.audio_in = b""
        self.send({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item["id"]})

    def _on_response_cancel(self, event: dict) -> None:
        raise _Invalid("Cancellation failed: no active response found", None, "response_cancel_not_active")

    def _on_response_create(self, event: dict) -> None:
        params = event.get("response") or {}
        if not isinstance(params, dict):
            raise _Invalid("Invalid type for 'response': expected an object.", "response", "invalid_type")
        _check_response(params, current=self.config["audio"]["output"]["voice"], spoke=self.spoke)
        with self.fake._flock:
            self.fake.counts["realtime"] += 1
        fault = _take_fault(self.fake)
        if fault is not None and fault.kind == "error":
            type_, code, message = _FAULT_ERRORS[fault.code or "server_error"]
            self.error(message.format(model=self.model), type_, code=code, event_id=event.get("event_id"))
            return
        _Response(self, params, fault).run()


class _Response:
    """One response: its events, paced like the real thing, and its usage."""

    def __init__(self, session: _Session, params: dict, fault: Fault | None) -> None:
        self.s, self.fault = session, fault
        config = session.config
        self.oob = params.get("conversation", "auto") == "none"
        self.modalities = params.get("output_modalities") or config["output_modalities"]
        output = (params.get("audio") or {}).get("output") or {}
        self.format = output.get("format") or config["audio"]["output"]["format"]
        self.voice = output.get("voice") or config["audio"]["output"]["voice"]
        self.instructions = params.get("instructions", config["instructions"]) or ""
        items = params.get("input", session.items)
        self.text = _last_user_text(items)
        self.prompt_chars = len(self.instructions) + sum(len(t) for t in _all_texts(items))
        self.id, self.item_id = _id("resp"), _id("item")
        self.metadata = params.get("metadata")

    def _resource(self, status: str, output: list, usage: dict | None) -> dict:
        return {"object": "realtime.response", "id": self.id, "status": status, "status_details": None,
                "output": output, "conversation_id": None if self.oob else "conv_fake", "metadata": self.metadata,
                "output_modalities": self.modalities, "max_output_tokens": "inf", "usage": usage,
                "audio": {"output": {"format": self.format, "voice": self.voice}}}

    def run(self) -> None:
        s, audio = self.s, self.modalities == ["audio"]
        spoken = _paraphrase(self.text) if self.fault is not None and self.fault.kind == "paraphrase" else self.text
        where = {"response_id": self.id, "item_id": self.item_id, "output_index": 0, "content_index": 0}
        item = {"id": self.item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
        s.send({"type": "response.created", "response": self._resource("in_progress", [], None)})
        s.send({"type": "response.output_item.added", "response_id": self.id, "output_index": 0, "item": item})
        if not self.oob:
            s.send({"type": "conversation.item.added", "previous_item_id": None, "item": item})
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        s.send({"type": "response.content_part.added", **where, "part": part})
        wait = s.fake.realtime_latency + (self.fault.latency if self.fault is not None and self.fault.kind == "slow"
                                          else 0.0)
        time.sleep(wait)
        seconds = round(max(0.3, len(spoken) / s.fake.chars_per_second), 2)
        if audio:
            self._stream_audio(spoken, seconds, where)
            s.spoke = True
            with s.fake._flock:
                _SPOKEN.setdefault(s.fake, []).append({"session": s.config["id"], "voice": self.voice,
                                                       "text": spoken, "instructions": self.instructions})
            content = {"type": "output_audio", "transcript": spoken}
            part = {"type": "audio", "transcript": spoken}
        else:
            s.send({"type": "response.output_text.delta", **where, "delta": spoken})
            s.send({"type": "response.output_text.done", **where, "text": spoken})
            content, part = {"type": "output_text", "text": spoken}, {"type": "text", "text": spoken}
        s.send({"type": "response.content_part.done", **where, "part": part})
        item = {**item, "status": "completed", "content": [content]}
        s.send({"type": "response.output_item.done", "response_id": self.id, "output_index": 0, "item": item})
        if not self.oob:
            s.items.append(item)
            s.send({"type": "conversation.item.done", "previous_item_id": None, "item": item})
        s.send({"type": "response.done", "response": self._resource("completed", [item], self._usage(spoken, seconds,
                                                                                                        audio))})

    def _stream_audio(self, spoken: str, seconds: float, where: dict) -> None:
        s = self.s
        pcm = _encode(speech_audio("pcm", seconds), self.format["type"])
        step = int(_CHUNK_SECONDS * len(pcm) / seconds) & ~1
        chunks = [pcm[i:i + step] for i in range(0, len(pcm), step)]
        words = spoken.split(" ")
        per_chunk = -(-len(words) // len(chunks))
        started = time.monotonic()
        for n, chunk in enumerate(chunks):
            if s.fake.realtime_speed:  # a chunk goes out once generated: its end, at realtime_speed
                time.sleep(max(0.0, started + seconds * (n * step + len(chunk)) / len(pcm) / s.fake.realtime_speed
                               - time.monotonic()))
            if self.fault is not None and self.fault.kind == "drop" and n == min(2, len(chunks) - 1):
                s.handler.connection.shutdown(socket.SHUT_RDWR)  # gone mid-audio, no close frame
                raise _Gone()
            said = " ".join(words[n * per_chunk:(n + 1) * per_chunk])
            if said:
                s.send({"type": "response.output_audio_transcript.delta", **where,
                        "delta": said if n == 0 else f" {said}"})
            s.send({"type": "response.output_audio.delta", **where, "delta": base64.b64encode(chunk).decode()})
        s.send({"type": "response.output_audio.done", **where})
        s.send({"type": "response.output_audio_transcript.done", **where, "transcript": spoken})

    def _usage(self, spoken: str, seconds: float, audio: bool) -> dict:
        text_in, text_out = math.ceil(self.prompt_chars / 4), _tokens(spoken)
        audio_out = round(seconds * AUDIO_TOKENS_PER_SECOND) if audio else 0
        return {"total_tokens": text_in + text_out + audio_out, "input_tokens": text_in,
                "output_tokens": text_out + audio_out,
                "input_token_details": {"text_tokens": text_in, "audio_tokens": 0, "image_tokens": 0,
                                        "cached_tokens": 0,
                                        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0,
                                                                  "image_tokens": 0}},
                "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out}}


# ---- what the real API accepts -------------------------------------------------------
def _listed(values) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])}, and {quoted[-1]}"


def _check_keys(obj: dict, allowed: set[str] | tuple[str, ...], where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise _Invalid(f"Unknown parameter: '{where}.{key}'.", f"{where}.{key}", "unknown_parameter")


def _check_object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(f"Invalid type for '{where}': expected an object, but got {type(value).__name__} instead.",
                       where, "invalid_type")
    return value


def _check_modalities(value, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise _Invalid(f"Invalid type for '{where}': expected an array of strings.", where, "invalid_type")
    for i, mode in enumerate(value):
        if mode not in ("text", "audio"):
            raise _Invalid(f"Invalid value: '{mode}'. Supported values are: 'text' and 'audio'.", f"{where}[{i}]")
    if len(set(value)) > 1:
        raise _Invalid(f"Invalid '{where}': only one of 'text' or 'audio' may be requested.", where)


def _check_format(value, where: str) -> None:
    _check_keys(_check_object(value, where), ("type", "rate"), where)
    if value.get("type") not in _FORMATS:
        raise _Invalid(f"Invalid value: '{value.get('type')}'. Supported values are: {_listed(_FORMATS)}.",
                       f"{where}.type")
    if value["type"] == "audio/pcm" and value.get("rate", 24000) != 24000:
        raise _Invalid(f"Invalid value: {value['rate']}. Supported values are: 24000.", f"{where}.rate")


def _check_voice(value, where: str, *, current: str | None, spoke: bool) -> None:
    if isinstance(value, dict):
        _check_keys(value, ("id",), where)
        voice = value.get("id")
    elif value not in REALTIME_VOICES:
        raise _Invalid(f"Invalid value: '{value}'. Supported values are: {_listed(REALTIME_VOICES)}.", where)
    else:
        voice = value
    if isinstance(current, dict):  # a custom voice, by its id
        current = current.get("id")
    if spoke and voice != current:
        raise _Invalid("Cannot update a conversation's voice if assistant audio is present.", where,
                       "cannot_update_voice")


def _check_session(session: dict, config: dict, *, spoke: bool) -> None:
    _check_keys(session, _SESSION_KEYS, "session")
    if "type" not in session:
        raise _Invalid("Missing required parameter: 'session.type'.", "session.type", "missing_required_parameter")
    if session["type"] != "realtime":
        raise _Invalid(f"Invalid value: '{session['type']}'. Supported values are: 'realtime'.", "session.type")
    if "output_modalities" in session:
        _check_modalities(session["output_modalities"], "session.output_modalities")
    if "instructions" in session and not isinstance(session["instructions"], str):
        raise _Invalid("Invalid type for 'session.instructions': expected a string.", "session.instructions",
                       "invalid_type")
    if "model" in session and session["model"] != config["model"]:
        raise _Invalid("Cannot update a session's model.", "session.model")
    if "reasoning" in session:
        effort = _check_object(session["reasoning"], "session.reasoning").get("effort")
        if effort is not None and effort not in _EFFORTS:
            raise _Invalid(f"Invalid value: '{effort}'. Supported values are: {_listed(_EFFORTS)}.",
                           "session.reasoning.effort")
    audio = _check_object(session.get("audio", {}), "session.audio")
    _check_keys(audio, ("input", "output"), "session.audio")
    out = _check_object(audio.get("output", {}), "session.audio.output")
    _check_keys(out, ("format", "voice", "speed"), "session.audio.output")
    if "format" in out:
        _check_format(out["format"], "session.audio.output.format")
    if "voice" in out:
        _check_voice(out["voice"], "session.audio.output.voice", current=config["audio"]["output"]["voice"],
                     spoke=spoke)
    if "speed" in out and not (isinstance(out["speed"], (int, float)) and 0.25 <= out["speed"] <= 1.5):
        raise _Invalid(f"Invalid 'session.audio.output.speed': expected a number from 0.25 to 1.5, but got "
                       f"{out['speed']!r} instead.", "session.audio.output.speed", "decimal_above_max_value")
    inp = _check_object(audio.get("input", {}), "session.audio.input")
    _check_keys(inp, ("format", "noise_reduction", "transcription", "turn_detection"), "session.audio.input")
    if "format" in inp:
        _check_format(inp["format"], "session.audio.input.format")
    turn = inp.get("turn_detection")
    if turn is not None and _check_object(turn, "session.audio.input.turn_detection").get("type") not in (
            "server_vad", "semantic_vad"):
        raise _Invalid(f"Invalid value: '{turn.get('type')}'. Supported values are: 'server_vad' and "
                       "'semantic_vad'.", "session.audio.input.turn_detection.type")


def _check_item(item, where: str) -> dict:
    item = _check_object(item, where)
    kind = item.get("type")
    if kind == "item_reference":
        return item
    if kind != "message":
        if kind in ("function_call", "function_call_output", "mcp_approval_response"):
            return item
        raise _Invalid(f"Invalid value: '{kind}'. Supported values are: 'message', 'function_call', "
                       "'function_call_output', 'mcp_approval_response', and 'item_reference'.", f"{where}.type")
    roles = {"user": ("input_text", "input_audio", "input_image"), "system": ("input_text",),
             "assistant": ("output_text", "output_audio")}
    if item.get("role") not in roles:
        raise _Invalid(f"Invalid value: '{item.get('role')}'. Supported values are: 'user', 'system', and "
                       "'assistant'.", f"{where}.role")
    content = item.get("content")
    if not isinstance(content, list):
        raise _Invalid(f"Missing required parameter: '{where}.content'.", f"{where}.content",
                       "missing_required_parameter")
    for i, part in enumerate(content):
        at = f"{where}.content[{i}]"
        if _check_object(part, at).get("type") not in roles[item["role"]]:
            raise _Invalid(f"Invalid value: '{part.get('type')}'. Supported values are: "
                           f"{_listed(roles[item['role']])}.", f"{at}.type")
        if part["type"] in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise _Invalid(f"Missing required parameter: '{at}.text'.", f"{at}.text", "missing_required_parameter")
    return item


def _check_response(params: dict, *, current, spoke: bool) -> None:
    _check_keys(params, _RESPONSE_KEYS, "response")
    if params.get("conversation", "auto") not in ("auto", "none"):
        raise _Invalid(f"Invalid value: '{params['conversation']}'. Supported values are: 'auto' and 'none'.",
                       "response.conversation")
    if "output_modalities" in params:
        _check_modalities(params["output_modalities"], "response.output_modalities")
    if "input" in params:
        if not isinstance(params["input"], list):
            raise _Invalid("Invalid type for 'response.input': expected an array.", "response.input", "invalid_type")
        for i, item in enumerate(params["input"]):
            _check_item(item, f"response.input[{i}]")
    audio = _check_object(params.get("audio", {}), "response.audio")
    _check_keys(audio, ("output",), "response.audio")
    out = _check_object(audio.get("output", {}), "response.audio.output")
    _check_keys(out, ("format", "voice"), "response.audio.output")
    if "format" in out:
        _check_format(out["format"], "response.audio.output.format")
    if "voice" in out:
        _check_voice(out["voice"], "response.audio.output.voice", current=current, spoke=spoke)


# ---- content -------------------------------------------------------------------------
def _all_texts(items: list[dict]) -> list[str]:
    return [str(part.get("text") or "") for item in items if item.get("type") == "message"
            for part in item.get("content") or [] if part.get("type") in ("input_text", "output_text")]


def _last_user_text(items: list[dict]) -> str:
    for item in reversed(items):
        if item.get("type") == "message" and item.get("role") == "user":
            return " ".join(str(p.get("text") or "") for p in item.get("content") or []
                            if p.get("type") == "input_text").strip()
    return "How can I help you today?"  # nothing to read: the model chats, as the real one does


def _paraphrase(text: str) -> str:
    """Other words with the gist of ``text``: what a narrator that does not read verbatim says."""
    words = text.split()
    kept = words[: max(1, len(words) // 3)]
    return f"In short, {' '.join(kept).rstrip('.,;:!?')}, and so on, as the story goes."


def _encode(pcm: bytes, fmt: str) -> bytes:
    """``pcm`` (PCM16 24 kHz) in ``fmt``; G.711 (8 kHz, a byte a sample) as steady silence is enough here."""
    if fmt == "audio/pcm":
        return pcm
    return (b"\xff" if fmt == "audio/pcmu" else b"\xd5") * (len(pcm) // 6)
