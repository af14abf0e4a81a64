"""The terminal side of ``storyreel make``: the approvals asked on the terminal
(``TerminalGate``) and a progress bar per stage (``BarProgress``), both on stderr so that
stdout carries only the video's path.
"""

from __future__ import annotations

import sys
import threading

import click
from tqdm import tqdm

from ..media.files import FileManager
from ..models import Job
from ..pipeline.approvals import Preview


class TerminalGate:
    """Asks the three approvals on the terminal; end of input counts as "no"."""

    def __init__(self, files: FileManager, progress: BarProgress, assume_yes: bool = False) -> None:
        self.files, self.progress, self.assume_yes = files, progress, assume_yes

    def ask(self, job: Job, preview: Preview) -> bool:
        """Show ``preview`` (the script, a contact sheet of the first pictures, the first
        clips' paths) and ask; with ``assume_yes`` only the script is shown."""
        if self.assume_yes and preview.kind != "script":
            return True  # nobody is looking: no contact sheet, no paths that are about to vanish
        self.progress.pause()  # the question goes below the bars, not inside them
        try:
            return self._ask(job, preview)
        finally:
            self.progress.resume()

    def _ask(self, job: Job, preview: Preview) -> bool:
        if preview.kind == "script":
            script = preview.script
            click.echo(f"\nScript ({script.language}{', draft' if script.draft else ''}): {script.title}", err=True)
            for seg in script.segments:
                click.echo(f"  [{_clock(seg.start)}–{_clock(seg.end)}] {seg.text or '(pause)'}", err=True)
            for note in script.warnings:
                click.echo(f"  note: {note}", err=True)
            if preview.cost:
                click.echo(f"  estimated cost: ${preview.cost:.2f}", err=True)
            question = "Approve the script?"
        elif self.assume_yes:
            return True  # nobody is looking: no contact sheet, no paths that are about to vanish
        elif preview.kind == "pictures":
            from ..providers.local.pictures import contact_sheet

            sheet = contact_sheet(preview.files, self.files.path(job.job_id, "preview_pictures.png"))
            click.echo(f"\nFirst {len(preview.files)} pictures: {sheet}", err=True)
            question = "Approve the pictures?"
        else:
            click.echo(f"\nFirst {len(preview.files)} clips:", err=True)
            for path in preview.files:
                click.echo(f"  {path}", err=True)
            question = "Approve the clips?"
        sys.stderr.flush()
        if self.assume_yes:
            return True
        try:
            return click.confirm(question, default=False, err=True)
        except click.Abort:
            return False


class BarProgress:
    """A tqdm bar per stage on stderr (pictures, clips and narration run side by side).
    While a question is on the terminal the bars keep counting but do not draw."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}
        self._counts: dict[str, tuple[int, int]] = {}
        self._paused = False
        self._lock = threading.Lock()

    def stage(self, job: Job, stage: str, total: int) -> None:
        """A stage starts with ``total`` steps."""
        self.advance(job, stage, 0, total)

    def advance(self, job: Job, stage: str, done: int, total: int) -> None:
        """``done`` of the stage's ``total`` steps are finished (a count never goes back)."""
        with self._lock:
            self._counts[stage] = (max(done, self._counts.get(stage, (0, 0))[0]), total)
            if self._paused:
                return
            bar = self._bars.get(stage)
            if bar is None:
                bar = self._bars[stage] = tqdm(total=total, desc=f"{stage:<10}", unit="seg", file=sys.stderr,
                                               position=len(self._bars), leave=True, dynamic_ncols=True,
                                               mininterval=0.2)
            bar.n = self._counts[stage][0]
            bar.refresh()

    def pause(self) -> None:
        """Close the bars (their counts are kept) so a question can be read."""
        with self._lock:
            self._paused = True
            self._close()

    def resume(self) -> None:
        """Draw again (from the kept counts) at the next step."""
        with self._lock:
            self._paused = False

    def close(self) -> None:
        """Close the bars for good (the run is over)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def _clock(seconds: float) -> str:
    """``seconds`` as ``MM:SS.s``, the way a script's timings are shown."""
    m, s = divmod(seconds, 60)
    return f"{int(m):02d}:{s:04.1f}"
