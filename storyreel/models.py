"""The data model: a job, its script segments and its video segments."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field


class JobStatus(str, enum.Enum):
    """Where a job is. The order of the members is the order of the stages."""

    CREATED = "created"
    SCRIPT = "script"
    AWAITING_SCRIPT_APPROVAL = "awaiting_script_approval"
    PICTURES = "pictures"
    AWAITING_PICTURES_APPROVAL = "awaiting_pictures_approval"
    CLIPS = "clips"
    AWAITING_CLIPS_APPROVAL = "awaiting_clips_approval"
    NARRATION = "narration"
    ASSEMBLY = "assembly"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True when the job is over: delivered, cancelled or failed."""
        return self in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED)


class SegmentStatus(str, enum.Enum):
    PENDING = "pending"
    PICTURE_STARTED = "picture_started"
    PICTURE_DONE = "picture_done"
    CLIP_STARTED = "clip_started"
    CLIP_DONE = "clip_done"
    FAILED = "failed"


class Aspect(str, enum.Enum):
    """Output shape. The size is derived from the short side (720 by default)."""

    LANDSCAPE = "16:9"
    PORTRAIT = "9:16"
    SQUARE = "1:1"

    def size(self, short_side: int = 720) -> tuple[int, int]:
        """(width, height) in pixels, both even (H.264 with yuv420p needs even sizes)."""
        long_side = _even(short_side * 16 / 9)
        short_side = _even(short_side)
        if self is Aspect.LANDSCAPE:
            return long_side, short_side
        if self is Aspect.PORTRAIT:
            return short_side, long_side
        return short_side, short_side


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


@dataclass(frozen=True)
class VideoFormat:
    """Everything every stage must agree on about the picture."""

    width: int
    height: int
    fps: int = 24

    @property
    def ratio(self) -> str:
        return f"{self.width}:{self.height}"


@dataclass
class ScriptSegment:
    """One S-second slice of the script."""

    index: int
    text: str
    start: float
    end: float
    image_prompt: str
    animation_prompt: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Script:
    """A narration script, already split into timed segments."""

    language: str
    title: str
    segments: list[ScriptSegment]
    warnings: list[str] = field(default_factory=list)
    draft: bool = False
    #: one description of the recurring subject and the style, repeated in every picture's prompt
    look: str = ""
    #: segment indices (from 0), the most visual first: the ones worth animating by a paid model
    highlights: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    @property
    def duration(self) -> float:
        return self.segments[-1].end if self.segments else 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Script":
        segs = [ScriptSegment(**s) for s in data.get("segments", [])]
        return cls(
            language=data["language"],
            title=data.get("title", ""),
            segments=segs,
            warnings=list(data.get("warnings", [])),
            draft=bool(data.get("draft", False)),
            look=data.get("look", ""),
            highlights=[int(i) for i in data.get("highlights", [])],
        )


@dataclass
class VideoSegment:
    """What was made for one segment: picture, clip, and the provider tasks behind them."""

    index: int
    status: SegmentStatus = SegmentStatus.PENDING
    picture_path: str | None = None
    clip_path: str | None = None
    picture_task_id: str | None = None
    clip_task_id: str | None = None
    picture_url: str | None = None  # the provider's output URL, reusable until it expires
    picture_at: float | None = None  # when the picture task finished
    clip_url: str | None = None
    clip_at: float | None = None
    error: str | None = None
    #: how many times the picture / clip was redone: each redo is a new file and a new task
    picture_version: int = 0
    clip_version: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "VideoSegment":
        data = dict(data)
        data["status"] = SegmentStatus(data.get("status", "pending"))
        return cls(**data)


@dataclass
class Transcript:
    text: str
    language: str | None = None


@dataclass
class JobOptions:
    """What the person chose for this video beyond its shape and length (the bot's
    ``/settings``, the CLI's flags); defaults come from the server's settings."""

    voice: str | None = None  # the narrator's voice; None: the provider's default
    narration_style: str = ""  # a key of ``Settings.narration_styles``; "": none
    music: bool = True  # background music, when the server has tracks
    visual_style: str = ""  # a key of ``Settings.visual_styles``; "": none
    reference: str = "off"  # the style and character reference: off, first (picture 1), user
    reference_image: str | None = None  # the user's picture, once in the job's folder
    fast_pictures: bool = False  # the picture provider's cheaper model (with a reference)
    motion_budget: int = 0  # segments animated by the motion provider; the rest pan and zoom; 0: all

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "JobOptions":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass
class Job:
    """A request to make one video."""

    job_id: str
    prompt: str
    language: str
    segment_count: int
    segment_seconds: float
    aspect: Aspect = Aspect.LANDSCAPE
    user_id: int | None = None
    chat_id: int | None = None
    status: JobStatus = JobStatus.CREATED
    created_at: float = 0.0
    updated_at: float = 0.0
    script: Script | None = None
    segments: list[VideoSegment] = field(default_factory=list)
    narration_path: str | None = None
    subtitles_path: str | None = None
    output_path: str | None = None
    error: str | None = None
    music_path: str | None = None
    burn_subtitles: bool = False
    asked: list[str] = field(default_factory=list)  # approvals already requested
    costs: list[dict] = field(default_factory=list)  # the cost ledger's records
    estimate: float | None = None  # estimated cost in USD, shown before the script is approved
    language_ui: str | None = None  # the user's interface language (the bot), else ``language``
    notes: dict = field(default_factory=dict)  # shell-specific state (message ids, …)
    history: list[dict] = field(default_factory=list)  # stages, approvals, errors, with times
    options: JobOptions = field(default_factory=JobOptions)
    rounds: dict = field(default_factory=dict)  # per gate: how many times it was shown again after an edit
    edits_done: int = 0  # edits (script revisions, redos) taken from the shell's queue so far
    revisions: int = 0  # script revisions made
    redos: int = 0  # pictures and clips redone
    extra_estimate: float = 0.0  # the estimated cost of the revisions and redos accepted
    redone: dict = field(default_factory=dict)  # per gate: the segments of the last redo, to show again

    @property
    def duration(self) -> float:
        return self.segment_count * self.segment_seconds

    def to_dict(self) -> dict:
        return {
            "job_id": self.job_id,
            "prompt": self.prompt,
            "language": self.language,
            "segment_count": self.segment_count,
            "segment_seconds": self.segment_seconds,
            "aspect": self.aspect.value,
            "user_id": self.user_id,
            "chat_id": self.chat_id,
            "status": self.status.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "script": self.script.to_dict() if self.script else None,
            "segments": [s.to_dict() for s in self.segments],
            "narration_path": self.narration_path,
            "subtitles_path": self.subtitles_path,
            "output_path": self.output_path,
            "error": self.error,
            "music_path": self.music_path,
            "burn_subtitles": self.burn_subtitles,
            "asked": list(self.asked),
            "costs": list(self.costs),
            "estimate": self.estimate,
            "language_ui": self.language_ui,
            "notes": dict(self.notes),
            "history": list(self.history),
            "options": self.options.to_dict(),
            "rounds": dict(self.rounds),
            "edits_done": self.edits_done,
            "revisions": self.revisions,
            "redos": self.redos,
            "extra_estimate": self.extra_estimate,
            "redone": {k: list(v) for k, v in self.redone.items()},
        }

    @property
    def cost(self) -> float:
        """USD spent so far (the sum of the ledger's records)."""
        return round(sum(c.get("cost", 0.0) for c in self.costs), 6)

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        data = dict(data)
        data["aspect"] = Aspect(data.get("aspect", "16:9"))
        data["status"] = JobStatus(data.get("status", "created"))
        data["script"] = Script.from_dict(data["script"]) if data.get("script") else None
        data["segments"] = [VideoSegment.from_dict(s) for s in data.get("segments", [])]
        data["options"] = JobOptions.from_dict(data.get("options"))
        return cls(**data)

