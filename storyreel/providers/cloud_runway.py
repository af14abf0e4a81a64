"""Runway pictures (text-to-image) and clips (image-to-video) through the ``runwayml`` SDK.

A generation is a paid *task*: create it, poll it until it ends,
download its output. Polling is our own loop (not the SDK's ``wait_for_task_output``,
which sleeps ~6 s regardless of our settings, ignores CANCELLED in its sync form and never
deletes a task it gives up on): it knows every status, PENDING, THROTTLED, RUNNING,
SUCCEEDED, FAILED, CANCELLED, and fails loudly on any other.

Who retries what (exactly one layer per failure):

- The SDK retries every HTTP request (create, retrieve, delete) on 408/409/429/5xx and
  connection errors, ``RUNWAY_MAX_RETRIES`` times with backoff, honouring Retry-After.
  Nothing here wraps it again, so what still fails is permanent: ``QuotaExceeded`` (429
  on create: Runway's daily limit), ``ProviderFailed`` (5xx, network; ``provider_auth``
  for a refused key), ``ProviderRejected`` (400).
- A task that FAILED (not for safety), was CANCELLED by someone else, vanished (404) or
  outran ``TASK_TIMEOUT`` raises the transient ``ProviderUnavailable``: the pipeline's
  call runner is the one layer that retries it, by calling us again for a new task.
  A SAFETY failure is permanent (``ProviderRejected``, code ``safety_rejected``).
- Two in-call second tries that are not retries of a failure Runway may repeat: a
  picture URL refused as ``promptImage`` (400: it expired) is sent once more as a data
  URI (a 400 creates no task, so nothing is paid twice); an output URL that answers
  403/404 on download is refreshed once by fetching the task again. Any other download
  failure is ``ProviderUnavailable``: the retry polls the same, already paid task.

One look for a job's pictures: a ``PictureStyle`` adds the script's look and the visual
style's words to each prompt and sends up to three pictures as ``referenceImages`` tagged
``ref1``..``ref3``, which the prompt names ("@ref1"): that is how Runway's gen4 picture
models are told to follow them. ``gen4_image_turbo`` (``style.fast``) refuses a request
without a reference, so without one the usual model is used.

Idempotency: ``TaskRef.started(id)`` is called as soon as create returns and
before any polling; given a ref that holds a task id we poll that task instead of paying
for a new one, and forget it only when it can never succeed (failed, cancelled, gone,
timed out and deleted). Usage is reported once, on success: one "image" per picture,
the billed seconds per clip. The API key and output URLs (they are signed) are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

import httpx
import runwayml
import structlog
from PIL import Image, ImageOps

from ..errors import (
    ConfigError,
    InputError,
    JobCancelled,
    StepInterrupted,
    MediaError,
    ProviderFailed,
    ProviderRejected,
    ProviderUnavailable,
    QuotaExceeded,
    StoryReelError,
)
from ..log import ms_since
from ..media.files import atomic_path
from ..models import ScriptSegment, VideoFormat
from ..settings import Settings
from .base import NEVER, PictureStyle, Stop, TaskRef, report_usage

log = structlog.get_logger(__name__)

#: Runway's limit for a base64 ``promptImage`` (the whole data URI)
MAX_DATA_URI = 5 * 1024 * 1024
_MAX_PROMPT_UNITS = 1000  # UTF-16 code units, Runway's limit for promptText
_MIN_EXTRA_UNITS = 24  # a look or style cut shorter than this says nothing: it is left out
#: Runway's limit for ``referenceImages`` on its gen4 picture models
MAX_REFERENCES = 3
_WAITING = frozenset({"PENDING", "THROTTLED", "RUNNING"})
#: the picture types Runway takes in a data URI as they are, by Pillow's format name
_DATA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

#: 720p-class output ratios per model (from the SDK's Literal types), best first; the one
#: closest to the video's shape is asked for, and the picture is fitted to its exact size
_PICTURE_RATIOS = ("1280:720", "720:1280", "720:720", "960:720", "720:960", "1680:720")
_CLIP_RATIOS = {
    "gen4_turbo": ("1280:720", "720:1280", "960:960", "1104:832", "832:1104", "1584:672"),
    "gen4.5": ("1280:720", "720:1280", "960:960", "1104:832", "832:1104", "1584:672"),
    "veo3.1": ("1280:720", "720:1280"),
    "veo3.1_fast": ("1280:720", "720:1280"),
}
#: whole seconds each model renders. SDK 5.24 types gen4_turbo's ``duration`` as a plain
#: int, but earlier SDKs typed it ``Literal[5, 10]`` and that is the set Runway documents
#: for it, so only those are asked for; gen4.5 takes 2-10 ("an integer from 2 to 10" in the
#: SDK), veo3.1 ``Literal[4, 6, 8]``.
CLIP_SECONDS = {
    "gen4_turbo": (5, 10),
    "gen4.5": tuple(range(2, 11)),
    "veo3.1": (4, 6, 8),
    "veo3.1_fast": (4, 6, 8),
}


def make_runway_client(settings: Settings) -> runwayml.RunwayML:
    """A ``RunwayML`` client from the settings; ``ConfigError`` naming RUNWAY_API_KEY if unset.

    ``runway_base_url`` None lets the SDK read ``RUNWAYML_BASE_URL`` itself; the SDK is the
    layer that retries each request (``runway_max_retries``).
    """
    key = settings.secret(settings.runway_api_key)
    if key is None:
        reason = "RUNWAY_API_KEY (or RUNWAYML_API_SECRET) is not set"
        raise ConfigError(reason, code="config", reason=reason)
    return runwayml.RunwayML(
        api_key=key,
        base_url=settings.runway_base_url or None,
        max_retries=settings.runway_max_retries,
        timeout=settings.runway_timeout,
    )


def clip_seconds(model: str, seconds: float) -> int:
    """The shortest duration ``model`` renders that covers ``seconds`` (the assembly trims
    every clip to exactly the segment's length)."""
    allowed = CLIP_SECONDS.get(model, CLIP_SECONDS["gen4_turbo"])
    fit = [d for d in allowed if d >= seconds - 1e-6]
    if not fit:
        reason = f"SEGMENT_SECONDS={seconds:g} is longer than the longest {model} clip ({max(allowed)} s)"
        raise ConfigError(reason, code="config", reason=reason)
    return min(fit)


def pick_ratio(fmt: VideoFormat, ratios: tuple[str, ...]) -> str:
    """The ratio in ``ratios`` whose shape is closest to ``fmt``'s (earlier ones win ties)."""
    want = math.log(fmt.width / fmt.height)

    def distance(ratio: str) -> float:
        w, h = (int(x) for x in ratio.split(":"))
        return abs(math.log(w / h) - want)

    return min(ratios, key=distance)


def map_error(exc: Exception, *, creating: bool) -> StoryReelError:
    """The one place SDK errors become ours (after the SDK's own retries)."""
    if isinstance(exc, runwayml.RateLimitError):
        if creating:
            return QuotaExceeded(f"Runway refused a new task (429): {_body(exc)}", code="provider_quota")
        return ProviderFailed(f"Runway rate-limited polling (429): {_body(exc)}")
    if isinstance(exc, (runwayml.AuthenticationError, runwayml.PermissionDeniedError)):
        return ProviderFailed(f"Runway refused the API key ({exc.status_code})", code="provider_auth")
    if isinstance(exc, (runwayml.BadRequestError, runwayml.UnprocessableEntityError)):
        return ProviderRejected(f"Runway refused the request: {_body(exc)}")
    if isinstance(exc, runwayml.APIConnectionError):  # includes APITimeoutError
        return ProviderFailed(f"Runway unreachable after retries: {type(exc).__name__}")
    if isinstance(exc, runwayml.APIStatusError):  # InternalServerError and the rest
        return ProviderFailed(f"Runway answered {exc.status_code} after retries: {_body(exc)}")
    return ProviderFailed(f"Runway SDK error: {type(exc).__name__}: {exc}")


def _body(exc: runwayml.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])[:300]
    return str(exc)[:300]


def _seed(seed: str, index: int) -> int:
    # the same job and segment ask for the same seed, so a retried task looks alike
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{index}".encode()).digest()[:4], "big")


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prompt(text: str, limit: int = _MAX_PROMPT_UNITS) -> str:
    """``text`` cut to ``limit`` UTF-16 code units (never inside a surrogate pair)."""
    units = text.strip().encode("utf-16-le")
    if len(units) <= 2 * limit:
        return text.strip()
    return units[: 2 * limit].decode("utf-16-le", "ignore")


def _shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-16 units, cut at a word and ended with "…" when
    it had to be cut; "" when too little room is left to say anything useful."""
    text = text.strip()
    if _units(text) <= limit:
        return text
    if limit < _MIN_EXTRA_UNITS:
        return ""
    cut = _prompt(text, limit - 1)
    word = cut.rsplit(None, 1)[0] if " " in cut.strip() else cut
    if _units(word) >= _units(cut) // 2:  # a word boundary, unless it loses half the text
        cut = word
    return cut.rstrip(" ,;:.") + "…"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def style_prompt(description: str, *, look: str = "", words: str = "", tags: list[str] | None = None) -> str:
    """The picture's prompt: its own ``description`` first, then the script's ``look``, the
    visual style's ``words`` and a sentence naming the reference ``tags`` ("@ref1"), all
    within Runway's 1000 UTF-16 units. The description and the reference sentence are
    kept whole when they can be; the look gives way first, then the style's words."""
    description = description.strip()
    look, words = look.strip(), words.strip()
    tags = tags or []
    if not (look or words or tags):
        return _prompt(description)
    mention = ""
    if tags:
        named = [f"@{tag}" for tag in tags]
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        mention = f"Keep the characters, palette and style of {listed}."
    budget = _MAX_PROMPT_UNITS
    if mention:
        budget -= _units(mention) + 1
    description = _sentence(_prompt(description, budget - 1))
    budget -= _units(description)
    # the style's words are short and chosen by the person: they are fitted before the look
    words = _shorten(words, budget - 2) if words else ""
    budget -= _units(words) + 2 if words else 0
    look = _shorten(look, budget - 2) if look else ""
    extras = [_sentence(p[:1].upper() + p[1:]) for p in (look, words) if p]
    parts = [description, *extras] + ([mention] if mention else [])
    return " ".join(parts)


def data_uri(picture: Path, limit: int = MAX_DATA_URI) -> str:
    """``picture`` as a base64 data URI under ``limit`` characters: the PNG or JPEG as it
    is (labelled with its real type) when it fits, else a JPEG, at lower qualities and then
    smaller sizes until it does."""
    try:
        raw = Path(picture).read_bytes()
        with Image.open(io.BytesIO(raw)) as img:
            kind = img.format
            image = ImageOps.exif_transpose(img).convert("RGB") if kind not in _DATA_TYPES else None
    except (OSError, ValueError) as exc:
        raise MediaError(f"picture {Path(picture).name} cannot be read: {exc}", code="picture_failed") from exc
    if image is None:
        uri = f"data:{_DATA_TYPES[kind]};base64," + base64.b64encode(raw).decode("ascii")
        if len(uri) <= limit:
            return uri
        with Image.open(io.BytesIO(raw)) as img:
            image = ImageOps.exif_transpose(img).convert("RGB")
    for scale in (1.0, 0.75, 0.5, 0.35, 0.25):
        size = (max(16, round(image.width * scale)), max(16, round(image.height * scale)))
        frame = image if scale == 1.0 else image.resize(size, Image.LANCZOS)
        for quality in (90, 80, 65):
            buf = io.BytesIO()
            frame.save(buf, format="JPEG", quality=quality)
            uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
            if len(uri) <= limit:
                return uri
    raise MediaError(f"picture {Path(picture).name} cannot be made smaller than {limit} bytes",
                     code="picture_failed")


@lru_cache(maxsize=6)
def _cached_uri(path: str, mtime_ns: int, size: int) -> str:
    return data_uri(Path(path))


def _reference_uri(path: Path) -> str:
    """``data_uri(path)``, made once per file version: every picture of a job sends the
    same references, often from several threads at once."""
    try:
        info = path.stat()
    except OSError as exc:
        raise MediaError(f"reference picture {path.name} cannot be read: {exc}", code="picture_failed") from exc
    return _cached_uri(str(path.resolve()), info.st_mtime_ns, info.st_size)


class _Tasks:
    """Create (or resume), poll and download one Runway task; shared by both providers."""

    def __init__(self, client: runwayml.RunwayML, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self._http = httpx.Client(timeout=settings.runway_timeout, follow_redirects=True)

    def run(self, create: Callable[[], str], task: TaskRef, *, model: str, stop: Stop = NEVER) -> str:
        """The output URL of ``task``'s Runway task, creating one with ``create`` if it has none."""
        if task.task_id:
            log.info("runway_task_resumed", provider="runway", model=model, task_id=task.task_id)
        else:
            started = time.perf_counter()
            try:
                task_id = create()
            except runwayml.RunwayMLError as exc:
                error = map_error(exc, creating=True)
                log.warning("runway_create_failed", provider="runway", model=model, code=error.code,
                            error=type(exc).__name__)
                raise error from exc
            task.started(task_id)  # recorded before the first poll: a crash now loses nothing
            log.info("runway_task_created", provider="runway", model=model, task_id=task_id,
                     duration_ms=ms_since(started))
        return self._wait(task, model, stop)

    def _wait(self, task: TaskRef, model: str, stop: Stop) -> str:
        task_id = task.task_id
        started = time.monotonic()
        deadline = started + self.settings.task_timeout
        while True:
            try:
                details = self.client.tasks.retrieve(task_id)
            except runwayml.NotFoundError as exc:
                task.forget()
                raise ProviderUnavailable(f"Runway task {task_id} is gone (404)", code="generation_failed") from exc
            except runwayml.RunwayMLError as exc:
                raise map_error(exc, creating=False) from exc
            status = details.status
            if status == "SUCCEEDED":
                if not details.output:
                    task.forget()
                    raise ProviderUnavailable(f"Runway task {task_id} succeeded with no output",
                                              code="generation_failed")
                task.finished(details.output[0])
                log.info("runway_task_succeeded", provider="runway", model=model, task_id=task_id,
                         duration_ms=round((time.monotonic() - started) * 1000))
                return details.output[0]
            if status == "FAILED":
                task.forget()
                code = details.failure_code or ""
                detail = f"Runway task {task_id} failed: {code} {details.failure}"
                if code.startswith("SAFETY"):
                    raise ProviderRejected(detail, code="safety_rejected", failure_code=code)
                raise ProviderUnavailable(detail, code="generation_failed", failure_code=code)
            if status == "CANCELLED":
                task.forget()
                raise ProviderUnavailable(f"Runway task {task_id} was cancelled", code="generation_failed")
            if status not in _WAITING:
                # a status this code does not know: stop rather than guess; the ref is kept
                raise ProviderFailed(f"Runway task {task_id} has an unknown status {status!r}",
                                     code="generation_failed")
            if stop.cancelled():
                self._delete(task_id, model, why="job_cancelled")
                task.forget()
                raise JobCancelled(f"job cancelled while Runway task {task_id} was {status}")
            if stop.interrupted():
                # this process is stopping, the job is not: the task goes on at Runway and
                # its recorded id is polled by whichever worker takes the job next
                raise StepInterrupted(f"stopping while Runway task {task_id} was {status}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._delete(task_id, model, why="timeout")  # stop paying for it
                task.forget()
                raise ProviderUnavailable(
                    f"Runway task {task_id} still {status} after {self.settings.task_timeout:g} s",
                    code="generation_timeout")
            time.sleep(min(self.settings.poll_interval, remaining))

    def _delete(self, task_id: str, model: str, *, why: str) -> None:
        try:
            self.client.tasks.delete(task_id)
            log.info("runway_task_deleted", provider="runway", model=model, task_id=task_id, reason=why)
        except runwayml.RunwayMLError as exc:  # best effort: the caller's error matters more
            log.warning("runway_task_delete_failed", provider="runway", model=model, task_id=task_id,
                        reason=why, error=type(exc).__name__)

    def download(self, task: TaskRef, url: str, *, model: str, stop: Stop = NEVER) -> bytes:
        """The bytes at ``url``; an expired URL (403/404) is refreshed once from the task."""
        try:
            return self._get(url)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code not in (403, 404):
                raise ProviderUnavailable(f"Runway output download answered {exc.response.status_code}") from exc
            log.info("runway_output_url_expired", provider="runway", model=model, task_id=task.task_id)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"Runway output download failed: {type(exc).__name__}") from exc
        fresh = self._wait(task, model, stop)
        try:
            return self._get(fresh)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"Runway output download failed twice: {type(exc).__name__}") from exc

    def _get(self, url: str) -> bytes:
        response = self._http.get(url)
        response.raise_for_status()
        return response.content

    def close(self) -> None:
        self._http.close()


class _RunwayProvider:
    """What both Runway providers share: the SDK client, the settings, the task runner
    (with its download pool). ``close()`` releases the pool; the SDK client is closed by
    whoever made it (``Providers.close``: both providers share one)."""

    name = "runway"
    #: the settings field naming this provider's model
    model_setting = ""

    def __init__(self, client: runwayml.RunwayML, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self.model = getattr(settings, self.model_setting)
        self._tasks = _Tasks(client, settings)

    def close(self) -> None:
        """Release the download connection pool."""
        self._tasks.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RunwayPictureMaker(_RunwayProvider):
    """``PictureMaker`` on Runway text-to-image (see the module docstring for retries).

    A ``PictureStyle`` adds the script's look and the visual style's words to every
    prompt, and sends its pictures as tagged ``referenceImages`` the prompt names
    ("@ref1"), so a job's pictures share one look. ``style.fast`` asks for ``fast_model``,
    which Runway only takes with at least one reference; without one the usual model is
    used (and said so in the log).
    """

    model_setting = "runway_image_model"

    def __init__(self, client: runwayml.RunwayML, settings: Settings) -> None:
        super().__init__(client, settings)
        #: the cheaper model ``style.fast`` asks for (priced by the cost estimate)
        self.fast_model = settings.runway_fast_image_model

    def make(self, segment: ScriptSegment, out_path: Path, fmt: VideoFormat, *, seed: str,
             task: TaskRef | None = None, stop: Stop = NEVER, style: PictureStyle | None = None) -> Path:
        """Generate the segment's picture and write it as a PNG of exactly ``fmt``'s size."""
        task = task if task is not None else TaskRef()
        style = style if style is not None else PictureStyle()
        description = (segment.image_prompt or segment.text or "").strip()
        if not description:
            raise InputError(f"segment {segment.index} has no image prompt")
        references = list(style.references)
        if len(references) > MAX_REFERENCES:
            log.warning("reference_images_dropped", provider="runway", segment=segment.index,
                        given=len(references), kept=MAX_REFERENCES)
            references = references[:MAX_REFERENCES]
        tags = [f"ref{n}" for n in range(1, len(references) + 1)]
        prompt = style_prompt(description, look=style.look, words=style.prompt, tags=tags)
        model = self.model
        if style.fast and references:
            model = self.fast_model
        elif style.fast:
            log.info("fast_pictures_need_reference", provider="runway", model=self.model,
                     fast_model=self.fast_model, segment=segment.index)
        ratio = pick_ratio(fmt, _PICTURE_RATIOS)

        def create() -> str:
            extra = {}
            if references:  # read only when a task is really created, not when one is resumed
                extra["reference_images"] = [{"uri": _reference_uri(Path(path)), "tag": tag}
                                             for path, tag in zip(references, tags)]
            return self.client.text_to_image.create(
                model=model, prompt_text=prompt, ratio=ratio, seed=_seed(seed, segment.index), **extra).id

        url = self._tasks.run(create, task, model=model, stop=stop)
        data = self._tasks.download(task, url, model=model, stop=stop)
        out_path = Path(out_path)
        try:
            with Image.open(io.BytesIO(data)) as img:
                picture = ImageOps.fit(img.convert("RGB"), (fmt.width, fmt.height), Image.LANCZOS)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out_path) as tmp:
                picture.save(tmp, format="PNG")
        except (OSError, ValueError) as exc:
            raise MediaError(f"Runway picture for segment {segment.index} is unusable: {exc}",
                             code="picture_failed") from exc
        report_usage(model, 1, "image")
        return out_path


class RunwayAnimator(_RunwayProvider):
    """``Animator`` on Runway image-to-video (see the module docstring for retries).

    The clip is saved as Runway renders it (H.264 MP4, the ratio's own size, 24 fps, the
    billed whole seconds); the assembly scales, pads and trims every clip to the format
    and to exactly the segment's length. ``max_bitrate`` cannot be asked of Runway.
    """

    model_setting = "runway_video_model"

    def billed_seconds(self, seconds: float) -> int:
        """The seconds Runway bills for a clip of ``seconds`` (the duration we ask for)."""
        return clip_seconds(self.model, seconds)

    def animate(self, picture: Path, segment: ScriptSegment, out_path: Path, fmt: VideoFormat, *,
                seconds: float, max_bitrate: int | None = None, task: TaskRef | None = None,
                picture_task: TaskRef | None = None, stop: Stop = NEVER) -> Path:
        """Animate ``picture`` into a clip of at least ``seconds`` seconds at ``out_path``."""
        task = task if task is not None else TaskRef()
        duration = clip_seconds(self.model, seconds)
        ratio = pick_ratio(fmt, _CLIP_RATIOS.get(self.model, _CLIP_RATIOS["gen4_turbo"]))
        url = self._picture_url(picture_task)
        prompt = _prompt(segment.animation_prompt or "")

        def create() -> str:
            def call(image: str) -> str:
                extra = {"prompt_text": prompt} if prompt else {}
                return self.client.image_to_video.create(
                    model=self.model, prompt_image=image, ratio=ratio, duration=duration, **extra).id

            if url is not None:
                try:
                    return call(url)
                except runwayml.BadRequestError as exc:  # expired or unreachable: no task was made
                    log.info("runway_prompt_url_refused", provider="runway", model=self.model,
                             segment=segment.index, error=_body(exc))
            return call(data_uri(picture))

        out_url = self._tasks.run(create, task, model=self.model, stop=stop)
        data = self._tasks.download(task, out_url, model=self.model, stop=stop)
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_path) as tmp:
            tmp.write_bytes(data)
        report_usage(self.model, duration, "second")
        return out_path

    def _picture_url(self, picture_task: TaskRef | None) -> str | None:
        # Runway's URL saves uploading the picture, but only while it is still signed
        if picture_task is None or not picture_task.output_url or picture_task.finished_at is None:
            return None
        if time.time() - picture_task.finished_at >= self.settings.runway_url_ttl:
            return None
        return picture_task.output_url
