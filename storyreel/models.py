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
        return cls(**data)

