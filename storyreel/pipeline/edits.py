"""What a person may change at a gate, besides yes and no: the script (all of it, one
segment, or a note for the script writer), and any picture or clip, redone by number.

Every shell reads a person's words the same way (``read_reply``) and asks ``accept``
before it queues an edit: an edit past the job's limits or over a cost cap is refused
with a human message before anything is spent. Applying an edit is the stages' work
(``Stages.apply_edit``): it is recorded in the job before anything it pays for starts,
so a job resumed after a crash redoes nothing twice.

Numbers are the ones people see: segments, pictures and clips count from 1.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ..errors import CostCapExceeded, InputError
from ..models import Job
from ..providers.base import Providers
from ..settings import Settings
from .ledger import Spending, clip_price, picture_price, script_price

#: the gates, and what may be changed at each
SCRIPT, PICTURES, CLIPS = "script", "pictures", "clips"

_NUMBERED = re.compile(r"^\s*(\d{1,3})\s*[:.)\-–—]\s*(\S.*)$", re.S)
_REDO_WORDS = re.compile(r"^\s*(redo|again|remake|переделай(?:те)?|заново|ещё раз|еще раз)\b[\s:,]*", re.I)
_NUMBER_LIST = re.compile(r"^[\d\s,;и&and]+$", re.I)
#: a reply this long (in words, or half the script's) is the whole corrected script
_WHOLE_SCRIPT_WORDS = 40


@dataclass(frozen=True)
class Edit:
    """One change a person asked for at the ``kind`` gate.

    - ``script`` gate: ``action`` "replace" (``text`` is the whole new script), "segment"
      (``items`` holds one segment's new words) or "note" (``text`` for the script writer);
    - ``pictures`` / ``clips`` gate: ``action`` "redo"; ``items`` maps each segment index
      (from 0) to its new description, "" to keep the old one.
    """

    kind: str
    action: str
    text: str = ""
    items: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["items"] = {str(k): v for k, v in self.items.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Edit":
        return cls(kind=data["kind"], action=data["action"], text=data.get("text", ""),
                   items={int(k): v for k, v in (data.get("items") or {}).items()})

    @property
    def numbers(self) -> list[int]:
        """The segments it touches, as people count them."""
        return [i + 1 for i in sorted(self.items)]


def read_reply(job: Job, kind: str, reply: str) -> Edit:
    """What ``reply`` asks of the ``kind`` gate, or the ``InputError`` that says why it
    cannot be done (a number out of range, a picture not made yet, nothing to do)."""
    words = (reply or "").strip()
    if not words:
        raise InputError("empty edit", code="edit_empty")
    if kind == SCRIPT:
        return _script_edit(job, words)
    return _redo_edit(job, kind, words)


def _script_edit(job: Job, words: str) -> Edit:
    count = len(job.script.segments) if job.script else job.segment_count
    numbered = _NUMBERED.match(words)
    if numbered and "\n" not in numbered.group(2).strip():
        index = int(numbered.group(1)) - 1
        if not 0 <= index < count:
            raise InputError("segment out of range", code="edit_bad_number", number=index + 1, count=count)
        return Edit(SCRIPT, "segment", items={index: " ".join(numbered.group(2).split())})
    script_words = len(job.script.text.split()) if job.script else 0
    if len(words.split()) >= min(_WHOLE_SCRIPT_WORDS, max(12, script_words // 2)):
        return Edit(SCRIPT, "replace", text=words)
    return Edit(SCRIPT, "note", text=" ".join(words.split()))


def _redo_edit(job: Job, kind: str, words: str) -> Edit:
    words = _REDO_WORDS.sub("", words, count=1).strip()
    items: dict[int, str] = {}
    numbered = _NUMBERED.match(words)
    if numbered and not _NUMBER_LIST.match(numbered.group(2)):
        items[int(numbered.group(1)) - 1] = " ".join(numbered.group(2).split())
    elif words and _NUMBER_LIST.match(words):
        items = {int(n) - 1: "" for n in re.findall(r"\d+", words)}
    if not items:
        raise InputError("not a redo", code="edit_not_understood", kind=kind)
    made = _made(job, kind)
    for index in items:
        if not 0 <= index < len(job.segments):
            raise InputError("number out of range", code="edit_bad_number", number=index + 1,
                             count=len(job.segments))
        if index not in made:
            raise InputError("not made yet", code=f"redo_not_ready_{kind}", number=index + 1)
    return Edit(kind, "redo", items=items)


def _made(job: Job, kind: str) -> set[int]:
    """The segments whose picture (clip) exists and was shown: only those can be redone."""
    attr = "picture_path" if kind == PICTURES else "clip_path"
    return {s.index for s in job.segments if getattr(s, attr)}


def edit_cost(settings: Settings, providers: Providers, job: Job, edit: Edit) -> float:
    """The estimated price of ``edit``: a note is one script request, a redo one picture
    (or clip) a segment; replacing words is free."""
    if edit.kind == SCRIPT:
        return script_price(settings, providers, job.segment_count, job.segment_seconds) if edit.action == "note" \
            else 0.0
    if edit.kind == PICTURES:
        return sum(picture_price(settings, providers, job.options, index=i) for i in edit.items)
    return sum(clip_price(settings, providers, job, index=i) for i in edit.items)


def accept(settings: Settings, providers: Providers, spending: Spending, job: Job, edit: Edit,
           queued: list[Edit] = ()) -> float:
    """Refuse ``edit`` (``InputError``) past the job's limits or over a cost cap, counting
    the edits ``queued`` but not applied yet; else its estimated price."""
    pending = [e for e in queued if e.kind == edit.kind]
    if edit.kind == SCRIPT:
        used = job.revisions + len(pending)
        if used >= settings.max_script_revisions:
            raise InputError("revision limit", code="revision_limit", limit=settings.max_script_revisions)
    else:
        used = job.redos + sum(len(e.items) for e in queued if e.kind != SCRIPT)
        if used + len(edit.items) > settings.max_redos:
            raise InputError("redo limit", code="redo_limit", limit=settings.max_redos,
                             left=max(0, settings.max_redos - used))
    cost = edit_cost(settings, providers, job, edit)
    if cost <= 0:
        return 0.0
    waiting = sum(edit_cost(settings, providers, job, e) for e in queued)
    cap = settings.max_cost_per_job
    expected = (job.estimate or 0.0) + job.extra_estimate + waiting + cost
    if cap and expected > cap + 1e-9:
        raise CostCapExceeded(f"edit would bring the job to {expected:.2f}, over {cap:.2f}",
                              code="edit_cost_cap", cost=cost, cap=cap)
    cap = settings.max_cost_per_user_day
    if cap and spending.today(job.user_id) + waiting + cost > cap + 1e-9:
        raise CostCapExceeded("edit over the daily cap", code="edit_cost_cap_day", cost=cost, cap=cap)
    return cost
