"""Approval gates: the three points where a person says yes or no (R7, R10, R12).

The pipeline asks a ``Gate``; what a gate does with the question is the shell's
business: the CLI asks in the terminal, the bot sends buttons. ``AutoApprove`` says yes
to everything (``--yes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..models import Job, Script

#: how many pictures and clips a person sees before approving (R10, R12)
PICTURE_PREVIEW = 5
CLIP_PREVIEW = 3


@dataclass
class Preview:
    """What a gate shows: the script, or the first pictures / clips."""

    kind: str  # "script", "pictures" or "clips"
    script: Script | None = None
    files: list[Path] = field(default_factory=list)


class Gate(Protocol):
    def ask(self, job: Job, preview: Preview) -> bool:
        """True to go on, False to cancel the job."""
        ...


class AutoApprove:
    """Approves everything at once."""

    def ask(self, job: Job, preview: Preview) -> bool:
        return True
