"""A loopback stand-in for Runway's developer API (api.dev.runwayml.com), for the ``runwayml`` SDK.

What it speaks, as Runway's API reference describes it:

    POST   /v1/text_to_image      {model, promptText, ratio, seed?, referenceImages?} -> 200 {id, estimatedCost}
    POST   /v1/image_to_video     {model, promptImage, ratio, duration?, promptText?, seed?}
    GET    /v1/tasks/{id}         PENDING | THROTTLED | RUNNING | SUCCEEDED | FAILED | CANCELLED
    DELETE /v1/tasks/{id}         204; a deleted task is gone (404) from then on
    GET    /outputs/{token}/{file} the task's output (a signed URL: no auth, expires -> 403)

``referenceImages`` is up to three ``{uri, tag?}`` (a data URI of at most 5 MB or a URL;
a tag is 3-16 letters, digits or underscores, starting with a letter, unique);
``gen4_image_turbo`` requires one to three. A field the endpoint does not know is refused.
Every API call needs ``Authorization: Bearer <key>`` (401 otherwise) and
``X-Runway-Version: 2024-11-06`` (400 when missing or unknown). Errors are JSON bodies
``{"error": "..."}`` (400s add ``issues``), with Runway's status codes.

The clock: a task starts when its model has a free slot (``concurrency`` per model; until
then it is THROTTLED), is PENDING for the first fifth of its latency, then RUNNING, then
SUCCEEDED (or FAILED when a fault was queued for it). Latencies are ``picture_latency`` and
``clip_latency`` seconds times ``scale``, so a bench can shrink Runway's ~10 s / ~60 s a
hundredfold. State is computed from the clock whenever a request arrives: no timers.

Money: ``created`` holds the body of every create that made a task, in order;
``creates(model)`` counts tasks created, ``paid(model)`` the tasks Runway would
charge for (succeeded, or cancelled while RUNNING); a 400 or 429 creates nothing.
Load: ``peak(model)`` is the most tasks that were RUNNING (PENDING included) at once;
``peak(model, queued=True)`` counts THROTTLED ones too (every task created and not yet
ended: what a client's own concurrency limit bounds, whatever the fake's ``concurrency``).

Faults, for tests: ``fail_next``, ``safety_next``, ``never_finish_next``, ``quota_exceeded``
(429 on create with a daily-limit body), ``server_errors`` (500s), ``throttle_for``,
``expire_outputs``, ``stale_outputs``, ``cancel_task`` (someone else cancels), ``force_status``.

Run alone: ``python -m tests.fakes.runway_server --port 8089 --api-key key --scale 0.01``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import math
import re
import secrets
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from storyreel.media.ffmpeg import run_ffmpeg

from .server import FakeServer, Reply, Request, serve_forever_cli

API_VERSION = "2024-11-06"

#: the ratios each model accepts (from the SDK's Literal types) and what a task costs
_IMAGE_RATIOS = ("1024:1024", "1080:1080", "1168:880", "1360:768", "1440:1080", "1080:1440", "1808:768",
                 "1920:1080", "1080:1920", "2112:912", "1280:720", "720:1280", "720:720", "960:720",
                 "720:960", "1680:720")
IMAGE_MODELS = {"gen4_image": 5, "gen4_image_turbo": 2}  # credits per picture (720p)
_VIDEO_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
#: credits per second and the durations each model accepts
VIDEO_MODELS = {"gen4_turbo": (5, (5, 10)), "gen4.5": (12, tuple(range(2, 11)))}
_MAX_DATA_URI = 5 * 1024 * 1024
_MAX_REFERENCES = 3
_NEEDS_REFERENCE = frozenset({"gen4_image_turbo"})  # these models take no picture without one
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,15}")
#: the body fields each endpoint knows (anything else is refused, like Runway's validator)
_IMAGE_FIELDS = frozenset({"model", "promptText", "ratio", "seed", "referenceImages", "contentModeration"})
_VIDEO_FIELDS = frozenset({"model", "promptImage", "promptText", "ratio", "duration", "seed", "contentModeration"})
_FPS = 24
_PENDING_SHARE = 0.2  # the part of a task's latency it shows as PENDING


@dataclass
class FakeTask:
    """One task as the fake keeps it."""

    id: str
    model: str
    kind: str  # "picture" | "clip"
    ratio: str
    duration: int | None
    created: float  # monotonic
    created_iso: str
    latency: float
    credits: int
    prompt_text: str = ""
    prompt_image_kind: str | None = None  # "url" | "data_uri", for image_to_video
    reference_tags: tuple[str | None, ...] = ()  # one per reference image sent, for text_to_image
    failure_code: str | None = None
    failure: str = ""
    never_finish: bool = False
    started: float | None = None
    ended: float | None = None
    cancelled: bool = False
    cancelled_while: str | None = None  # the status it had when cancelled or deleted
    cancelled_at: float | None = None  # monotonic
    deleted: bool = False
    forced_status: str | None = None
    token: str | None = None  # the output URL's current signature
    token_expires: float = 0.0


class FakeRunway(FakeServer):
    """Runway on 127.0.0.1 (see the module docstring). All durations are in seconds."""

    def __init__(
        self,
        port: int = 0,
        *,
        api_key: str = "test-runway-key",
        picture_latency: float = 10.0,
        clip_latency: float = 60.0,
        scale: float = 1.0,
        concurrency: int | dict[str, int] = 3,
        url_ttl: float = 24 * 3600.0,
        media_short_side: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(port)
        self.api_key = api_key
        self.picture_latency, self.clip_latency, self.scale = picture_latency, clip_latency, scale
        self.concurrency = concurrency
        self.url_ttl = url_ttl
        #: None: pictures and clips at the ratio's real size; 90: 160x90 for 1280:720
        self.media_short_side = media_short_side
        #: sent as Retry-After on 429 and 5xx faults (None: no header, the SDK backs off)
        self.retry_after = retry_after
        self.tasks: dict[str, FakeTask] = {}
        self._state = threading.RLock()
        self._freed: dict[str, float] = {}
        self._hold_until = 0.0
        self._fail: list[tuple[str | None, str, str]] = []  # (model, failureCode, failure)
        self._never_finish = 0
        self._quota: float = 0  # creates left to refuse with 429 (math.inf: all)
        self._errors: list[tuple[str, int]] = []  # (path part, status) of the next 5xx replies
        self._stale = 0  # output URLs still to hand out already expired
        #: every status GET /v1/tasks/{id} answered, in order: (task id, status)
        self.served: list[tuple[str, str]] = []
        #: the JSON body of every create that made a task, in order
        self.created: list[dict] = []

    # ---- faults ------------------------------------------------------------------------
    def fail_next(self, count: int = 1, code: str = "INTERNAL.BAD_OUTPUT.CODE01",
                  failure: str = "An unexpected error occurred.", model: str | None = None) -> None:
        """The next ``count`` tasks created (of ``model``, if given) end FAILED with ``code``."""
        with self._state:
            self._fail += [(model, code, failure)] * count

    def safety_next(self, count: int = 1, code: str = "SAFETY.INPUT.TEXT") -> None:
        """The next ``count`` tasks are refused by content moderation."""
        self.fail_next(count, code, "The prompt was flagged by content moderation.")

    def never_finish_next(self, count: int = 1) -> None:
        """The next ``count`` tasks stay RUNNING for ever."""
        with self._state:
            self._never_finish += count

    def quota_exceeded(self, count: float = math.inf) -> None:
        """The next ``count`` creates (all, by default) answer 429: the daily limit is used up."""
        with self._state:
            self._quota = count

    def server_errors(self, count: int = 1, *, status: int = 500, path: str = "/v1/") -> None:
        """The next ``count`` API requests whose path contains ``path`` answer ``status``."""
        with self._state:
            self._errors += [(path, status)] * count

    def throttle_for(self, seconds: float) -> None:
        """No task starts for ``seconds``: new and queued tasks show THROTTLED meanwhile."""
        with self._state:
            self._hold_until = time.monotonic() + seconds

    def expire_outputs(self) -> None:
        """Every output URL handed out so far expires now (a new GET of the task signs a new one)."""
        with self._state:
            for task in self.tasks.values():
                task.token_expires = 0.0

    def stale_outputs(self, count: int = 1) -> None:
        """The next ``count`` output URLs handed out are already expired when they arrive."""
        with self._state:
            self._stale += count

    def cancel_task(self, task_id: str) -> None:
        """Someone else (the dashboard, another worker) cancels the task."""
        with self._state:
            self._advance(time.monotonic())
            task = self.tasks[task_id]
            task.cancelled_while = self._status(task, time.monotonic())
            task.cancelled, task.cancelled_at = True, time.monotonic()
            self._freed[task.model] = time.monotonic()

    def force_status(self, task_id: str, status: str) -> None:
        """Make GET report ``status`` for the task, whatever it is (e.g. one Runway adds later)."""
        with self._state:
            self.tasks[task_id].forced_status = status

    def clear_faults(self) -> None:
        with self._state:
            self._fail, self._never_finish, self._quota, self._errors, self._stale = [], 0, 0, [], 0
            self._hold_until = 0.0

    # ---- accounting ----------------------------------------------------------------------
    def creates(self, model: str | None = None) -> int:
        """Tasks created (of ``model``)."""
        with self._state:
            return sum(1 for t in self.tasks.values() if model in (None, t.model))

    def paid(self, model: str | None = None) -> int:
        """Tasks Runway charges for: succeeded, or cancelled/deleted while RUNNING."""
        now = time.monotonic()
        with self._state:
            self._advance(now)
            return sum(1 for t in self.tasks.values() if model in (None, t.model) and self._charged(t, now))

    def peak(self, model: str | None = None, *, queued: bool = False) -> int:
        """The most tasks (of ``model``) that were running at once so far; with ``queued``,
        the most that were open at once (created and not ended: THROTTLED ones too)."""
        now = time.monotonic()
        events: list[tuple[float, int]] = []
        with self._state:
            self._advance(now)
            for t in self.tasks.values():
                if model not in (None, t.model):
                    continue
                begin = t.created if queued else t.started
                if begin is None:
                    continue
                end = min(x for x in (t.ended, t.cancelled_at, now) if x is not None)
                if end > begin:
                    events += [(begin, 1), (end, -1)]
        most = running = 0
        for _, step in sorted(events):  # at one instant an end (-1) sorts before a start
            running += step
            most = max(most, running)
        return most

    def task(self, task_id: str) -> FakeTask:
        with self._state:
            return self.tasks[task_id]

    def statuses(self, task_id: str) -> list[str]:
        """The statuses GET answered for ``task_id``, in order."""
        with self._state:
            return [status for tid, status in self.served if tid == task_id]

    # ---- the clock -------------------------------------------------------------------------
    def _limit(self, model: str) -> int:
        if isinstance(self.concurrency, dict):
            return self.concurrency.get(model, 3)
        return self.concurrency

    def _advance(self, now: float) -> None:
        """Replay starts and finishes up to ``now``, in time order, model by model."""
        for model in {t.model for t in self.tasks.values()}:
            live = [t for t in self.tasks.values() if t.model == model and not t.cancelled and t.ended is None]
            while True:
                running = [t for t in live if t.started is not None and t.ended is None]
                waiting = [t for t in live if t.started is None]
                if waiting and len(running) < self._limit(model):
                    start = max(waiting[0].created, self._freed.get(model, 0.0), self._hold_until)
                    if start <= now:
                        waiting[0].started = start
                        continue
                due = [t for t in running if not t.never_finish and t.started + t.latency <= now]
                if not due:
                    break
                first = min(due, key=lambda t: t.started + t.latency)
                first.ended = first.started + first.latency
                self._freed[model] = max(self._freed.get(model, 0.0), first.ended)

    def _status(self, task: FakeTask, now: float) -> str:
        if task.forced_status:
            return task.forced_status
        if task.cancelled:
            return "CANCELLED"
        if task.started is None:
            return "THROTTLED"
        if task.ended is not None:
            return "FAILED" if task.failure_code else "SUCCEEDED"
        return "PENDING" if now - task.started < task.latency * _PENDING_SHARE else "RUNNING"

    def _charged(self, task: FakeTask, now: float) -> bool:
        if task.cancelled:
            return task.cancelled_while in ("RUNNING", "SUCCEEDED")
        return self._status(task, now) == "SUCCEEDED"

    # ---- HTTP ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        if request.path.startswith("/outputs/"):
            return self._download(request)
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            return Reply.json({"error": "Incorrect or missing API key."}, 401)
        version = request.headers.get("x-runway-version")
        if version != API_VERSION:
            what = "missing" if version is None else f"not a valid version: {version!r}"
            return Reply.json({"error": f"The X-Runway-Version header is {what}. Use {API_VERSION}."}, 400)
        with self._state:
            fault = next((f for f in self._errors if f[0] in request.path), None)
            if fault is not None:
                self._errors.remove(fault)
                return Reply.json({"error": "An internal error occurred."}, fault[1], self._retry_headers())
        route = (request.method, request.path)
        if route == ("POST", "/v1/text_to_image"):
            return self._create(request, "picture")
        if route == ("POST", "/v1/image_to_video"):
            return self._create(request, "clip")
        if request.path.startswith("/v1/tasks/") and request.method in ("GET", "DELETE"):
            task_id = request.path.rsplit("/", 1)[-1]
            return self._get(task_id) if request.method == "GET" else self._delete(task_id)
        if request.path in ("/v1/text_to_image", "/v1/image_to_video") or request.path.startswith("/v1/tasks/"):
            return Reply.json({"error": "Method not allowed."}, 405)
        return Reply.json({"error": "Not found."}, 404)

    def _retry_headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}

    def _create(self, request: Request, kind: str) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return _invalid("body", "Request body must be JSON.")
        if not isinstance(body, dict):
            return _invalid("body", "Request body must be an object.")
        problem = _validate(body, kind)
        if problem:
            return _invalid(*problem)
        image_kind = None
        if kind == "clip":
            image_kind, problem = self._check_prompt_image(body["promptImage"])
            if problem:
                return Reply.json({"error": problem}, 400)
        for reference in body.get("referenceImages") or []:
            _, problem = self._check_asset(reference["uri"])
            if problem:
                return Reply.json({"error": problem}, 400)
        with self._state:
            if self._quota > 0:
                self._quota -= 1
                return Reply.json(
                    {"error": "You have exceeded your daily generation limit for this model. "
                              "It resets on a rolling 24-hour window."}, 429, self._retry_headers())
            now = time.monotonic()
            self._advance(now)
            model = body["model"]
            fail = next((f for f in self._fail if f[0] in (None, model)), None)
            if fail is not None:
                self._fail.remove(fail)
            never = self._never_finish > 0
            self._never_finish -= int(never)
            duration = int(body.get("duration", 10)) if kind == "clip" else None
            latency = (self.picture_latency if kind == "picture" else self.clip_latency) * self.scale
            credits = IMAGE_MODELS[model] if kind == "picture" else VIDEO_MODELS[model][0] * duration
            task = FakeTask(
                id=str(uuid.uuid4()), model=model, kind=kind, ratio=body["ratio"], duration=duration,
                created=now, created_iso=_iso(), latency=latency, credits=credits,
                prompt_text=body.get("promptText", ""), prompt_image_kind=image_kind,
                reference_tags=tuple(r.get("tag") for r in body.get("referenceImages") or []),
                failure_code=fail[1] if fail else None, failure=fail[2] if fail else "", never_finish=never,
            )
            self.tasks[task.id] = task
            self.created.append(body)
            self._advance(now)  # a free slot starts it at once
            return Reply.json({"id": task.id, "estimatedCost": {"credits": credits}})

    def _check_prompt_image(self, image) -> tuple[str | None, str | None]:
        uri = image if isinstance(image, str) else next(
            (i.get("uri") for i in image if isinstance(i, dict) and i.get("position", "first") == "first"), None)
        if not isinstance(uri, str) or not uri:
            return None, "promptImage must be a URL or a data URI."
        return self._check_asset(uri)

    def _check_asset(self, uri: str) -> tuple[str, str | None]:
        """("url" | "data_uri", the 400 error for it or None) for an input image."""
        if uri.startswith("data:"):
            return "data_uri", _check_data_uri(uri)
        own = f"{self.url}/outputs/"
        if not uri.startswith(own):
            # no network here: a URL of another host cannot be fetched
            return "url", "Invalid asset URL: the image could not be fetched."
        token = urlsplit(uri).path.split("/")[2]
        with self._state:
            task = next((t for t in self.tasks.values() if t.token == token), None)
            if task is None or task.deleted or task.token_expires <= time.monotonic():
                return "url", "Invalid asset URL: the URL has expired or is not accessible."
            if task.kind != "picture":
                return "url", "Invalid asset: the URL is not an image."
        return "url", None

    def _live(self, task_id: str, now: float) -> FakeTask | None:
        """The task as of ``now`` (call with the state lock held); None once deleted."""
        self._advance(now)
        task = self.tasks.get(task_id)
        return None if task is None or task.deleted else task

    def _get(self, task_id: str) -> Reply:
        now = time.monotonic()
        with self._state:
            task = self._live(task_id, now)
            if task is None:
                return Reply.json({"error": "Task not found."}, 404)
            status = self._status(task, now)
            self.served.append((task.id, status))
            data = {"id": task.id, "status": status, "createdAt": task.created_iso}
            if status in ("PENDING", "THROTTLED", "RUNNING"):
                data["estimatedCost"] = {"credits": task.credits}
                if status == "RUNNING":
                    data["progress"] = round(min(0.99, (now - task.started) / max(task.latency, 1e-9)), 3)
            elif status == "SUCCEEDED":
                if task.token is None or task.token_expires <= now:  # a fresh signature, like Runway
                    task.token, task.token_expires = secrets.token_hex(12), now + self.url_ttl
                    if self._stale > 0:
                        self._stale -= 1
                        task.token_expires = 0.0
                ext = "png" if task.kind == "picture" else "mp4"
                data.update(cost={"credits": task.credits}, output=[f"{self.url}/outputs/{task.token}/{task.id}.{ext}"])
            elif status == "FAILED":
                data.update(cost={"credits": 0}, failure=task.failure or "Failed.",
                            failureCode=task.failure_code)
            else:  # CANCELLED, or a forced status
                data["cost"] = {"credits": task.credits if self._charged(task, now) else 0}
            return Reply.json(data)

    def _delete(self, task_id: str) -> Reply:
        now = time.monotonic()
        with self._state:
            task = self._live(task_id, now)
            if task is None:
                return Reply.json({"error": "Task not found."}, 404)
            if not task.cancelled:
                task.cancelled_while = self._status(task, now)
                task.cancelled, task.cancelled_at = True, now
                self._freed[task.model] = max(self._freed.get(task.model, 0.0), now)
            task.deleted = True
            return Reply(204)

    def _download(self, request: Request) -> Reply:
        parts = request.path.split("/")  # "", "outputs", token, file
        now = time.monotonic()
        with self._state:
            task = next((t for t in self.tasks.values() if len(parts) == 4 and t.token == parts[2]), None)
            if task is None or task.deleted or not parts[3].startswith(task.id):
                return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
            if task.token_expires <= now:
                return Reply(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                             {"Content-Type": "application/xml"})
            w, h = self._media_size(task.ratio)
            kind, duration = task.kind, task.duration
        if kind == "picture":
            return Reply(200, png_bytes(w, h), {"Content-Type": "image/png"})
        return Reply(200, mp4_bytes(w, h, duration), {"Content-Type": "video/mp4"})

    def _media_size(self, ratio: str) -> tuple[int, int]:
        rw, rh = (int(x) for x in ratio.split(":"))
        if self.media_short_side is None:
            return rw, rh
        k = self.media_short_side / min(rw, rh)
        return max(2, round(rw * k / 2) * 2), max(2, round(rh * k / 2) * 2)


# ---- validation ------------------------------------------------------------------------
def _invalid(field: str | list, message: str) -> Reply:
    path = field if isinstance(field, list) else [field]
    return Reply.json({"error": f"Validation of body failed: {message}",
                       "issues": [{"path": path, "message": message}]}, 400)


def _validate(body: dict, kind: str) -> tuple[str | list, str] | None:
    models = IMAGE_MODELS if kind == "picture" else VIDEO_MODELS
    model = body.get("model")
    if model not in models:
        return "model", f"model must be one of {sorted(models)}."
    unknown = sorted(set(body) - (_IMAGE_FIELDS if kind == "picture" else _VIDEO_FIELDS))
    if unknown:
        return unknown[0], "Unrecognized key(s) in object: " + ", ".join(f"'{k}'" for k in unknown)
    ratios = _IMAGE_RATIOS if kind == "picture" else _VIDEO_RATIOS
    if body.get("ratio") not in ratios:
        return "ratio", f"ratio must be one of {list(ratios)}."
    text = body.get("promptText")
    if kind == "picture" and not (isinstance(text, str) and text.strip()):
        return "promptText", "promptText must be a non-empty string."
    if text is not None and (not isinstance(text, str) or len(text.encode("utf-16-le")) // 2 > 1000):
        return "promptText", "promptText must be a string of at most 1000 characters."
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or not 0 <= seed <= 4294967295):
        return "seed", "seed must be an integer from 0 to 4294967295."
    if kind == "picture":
        problem = _validate_references(body.get("referenceImages"), model)
        if problem:
            return problem
    if kind == "clip":
        if "promptImage" not in body:
            return "promptImage", "promptImage is required."
        allowed = VIDEO_MODELS[model][1]
        duration = body.get("duration", 10)
        if not isinstance(duration, int) or duration not in allowed:
            return "duration", f"duration must be one of {list(allowed)} for {model}."
    return None


def _validate_references(refs, model: str) -> tuple[list, str] | None:
    """Runway's rules for ``referenceImages`` (the images themselves are checked later)."""
    field = ["referenceImages"]
    if refs is None:
        if model in _NEEDS_REFERENCE:
            return field, f"referenceImages is required for {model}."
        return None
    if not isinstance(refs, list):
        return field, "referenceImages must be an array."
    least = 1 if model in _NEEDS_REFERENCE else 0
    if len(refs) < least:
        return field, f"referenceImages must contain at least {least} item(s) for {model}."
    if len(refs) > _MAX_REFERENCES:
        return field, f"referenceImages must contain at most {_MAX_REFERENCES} items."
    tags: set[str] = set()
    for i, ref in enumerate(refs):
        where = [*field, i]
        if not isinstance(ref, dict):
            return where, "Each reference image must be an object."
        unknown = sorted(set(ref) - {"uri", "tag"})
        if unknown:
            return [*where, unknown[0]], "Unrecognized key(s) in object: " + ", ".join(f"'{k}'" for k in unknown)
        uri = ref.get("uri")
        if not isinstance(uri, str) or not uri:
            return [*where, "uri"], "uri must be a HTTPS URL or a data URI."
        # the fake's own outputs (http on loopback) stand in for Runway's https URLs
        if not uri.startswith(("https://", "data:", "runway://", "http://127.0.0.1")):
            return [*where, "uri"], "uri must be a HTTPS URL or a data URI."
        if "tag" in ref:
            tag = ref["tag"]
            if not isinstance(tag, str) or not _TAG.fullmatch(tag):
                return [*where, "tag"], ("tag must be 3-16 characters, start with a letter, and use only "
                                         "letters, digits, and underscores.")
            if tag in tags:
                return [*where, "tag"], f"tag {tag!r} is used by more than one reference image."
            tags.add(tag)
    return None


def _check_data_uri(uri: str) -> str | None:
    if len(uri) > _MAX_DATA_URI:
        return "Invalid data URI: the image is larger than 5MB."
    head, _, data = uri.partition(",")
    if head not in ("data:image/png;base64", "data:image/jpeg;base64", "data:image/webp;base64"):
        return "Invalid data URI: expected a base64 PNG, JPEG or WebP image."
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as img:
            found = img.format
            img.verify()
    except (binascii.Error, OSError, ValueError):
        return "Invalid data URI: the image cannot be decoded."
    if head != f"data:image/{found.lower()};base64":
        return f"Invalid data URI: the data is {found}, not what its media type says."
    return None


def _iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- media (made once per size and cached for the process) -----------------------------
@lru_cache(maxsize=32)
def png_bytes(width: int, height: int) -> bytes:
    """A real PNG: a diagonal colour gradient of ``width`` x ``height``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([xx / max(1, width - 1), yy / max(1, height - 1), 1 - xx / max(1, width - 1)], axis=2)
    buf = io.BytesIO()
    Image.fromarray((rgb * 255).astype(np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


@lru_cache(maxsize=32)
def mp4_bytes(width: int, height: int, seconds: int) -> bytes:
    """A real H.264 MP4 (yuv420p, 24 fps) of exactly ``seconds`` seconds."""
    with tempfile.TemporaryDirectory(prefix="fake-runway-") as tmp:
        out = Path(tmp) / "clip.mp4"
        run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={_FPS}:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-movflags", "+faststart", out], what="fake_runway_clip")
        return out.read_bytes()


def _from_cli(port: int, argv: list[str]) -> FakeRunway:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.runway_server")
    parser.add_argument("--api-key", default="test-runway-key")
    parser.add_argument("--scale", type=float, default=1.0, help="latency factor (0.01: 100x faster)")
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--url-ttl", type=float, default=24 * 3600.0)
    parser.add_argument("--small", action="store_true", help="90-pixel pictures and clips")
    args = parser.parse_args(argv)
    return FakeRunway(port, api_key=args.api_key, scale=args.scale, concurrency=args.concurrency,
                      url_ttl=args.url_ttl, media_short_side=90 if args.small else None)


if __name__ == "__main__":
    serve_forever_cli(_from_cli, "A fake Runway API on loopback.")
