"""The terminal side of ``storyreel make``: the approvals asked on the terminal
(``TerminalGate``) and a progress bar per stage (``BarProgress``), both on stderr so that
stdout carries only the video's path.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

import click
from tqdm import tqdm

from ..errors import StoryReelError
from ..media.files import FileManager
from ..media.sheets import contact_sheet
from ..messages import message, message_for
from ..models import Job
from ..pipeline.approvals import Preview
from ..pipeline.edits import SCRIPT, Edit, read_reply

#: the answers that approve and refuse (English and Russian, as the bot understands them)
YES = frozenset({"y", "yes", "д", "да"})
NO = frozenset({"n", "no", "н", "нет"})

#: the question at each gate, and what may be answered besides yes and no
QUESTIONS = {
    "script": "Approve the script? y/n; e to edit it; “7: new words” for one segment; or a note for the writer",
    "pictures": "Approve the pictures? y/n, or the numbers to redo (“3, 17”, “3: a lighthouse at night”)",
    "clips": "Approve the clips? y/n, or the numbers to redo (“2”, “2: slow zoom out”)",
}

#: ``check(job, edit)``: refuses an edit (a ``StoryReelError``) past the job's limits or caps
EditCheck = Callable[[Job, Edit], object]


class TerminalGate:
    """Asks the three approvals on the terminal. Besides yes and no a person may change
    the script (in ``$EDITOR``, one segment, or a note for the writer) or have pictures
    and clips redone by number; each edit is checked (``check``) before it is returned,
    and a refused one is explained and the question asked again. End of input counts as
    "no"."""

    def __init__(self, files: FileManager, progress: BarProgress, assume_yes: bool = False,
                 check: EditCheck | None = None) -> None:
        self.files, self.progress, self.assume_yes, self.check = files, progress, assume_yes, check
        self._lock = threading.Lock()  # one block of lines at a time (a sheet may come while asking)

    def ask(self, job: Job, preview: Preview) -> bool | Edit:
        """Show ``preview`` (the script, a contact sheet of the first pictures, the first
        clips' paths; after an edit what was redone) and ask; with ``assume_yes`` only
        the script is shown."""
        if self.assume_yes and preview.kind != "script":
            return True  # nobody is looking: no contact sheet, no paths that are about to vanish
        self.progress.pause()  # the question goes below the bars, not inside them
        try:
            with self._lock:
                self._show_preview(job, preview)
            if self.assume_yes:
                return True
            return self._answer(job, preview)
        finally:
            self.progress.resume()

    def show(self, job: Job, preview: Preview) -> None:
        """More pictures while the pictures question is open: the sheet's path."""
        if self.assume_yes or not preview.files:
            return
        numbers = preview.numbers or list(range(1, len(preview.files) + 1))
        span = f"{numbers[0]}–{numbers[-1]}" if len(numbers) > 1 else str(numbers[0])
        self.progress.pause()
        try:
            with self._lock:
                click.echo(f"\nMore pictures {span}: {preview.files[0]}", err=True)
                sys.stderr.flush()
        finally:
            self.progress.resume()

    # ---- showing ------------------------------------------------------------------------
    def _show_preview(self, job: Job, preview: Preview) -> None:
        numbers = preview.numbers or list(range(1, len(preview.files) + 1))
        if preview.kind == "script":
            script = preview.script
            if preview.notice:
                click.echo(f"\n{message(preview.notice)}", err=True)
            heading = "Revised script" if preview.round and not preview.notice else "Script"
            click.echo(f"\n{heading} ({script.language}{', draft' if script.draft else ''}): {script.title}",
                       err=True)
            for seg in script.segments:
                click.echo(f"  {seg.index + 1:>3}. [{_clock(seg.start)}–{_clock(seg.end)}] {seg.text or '(pause)'}",
                           err=True)
            for note in script.warnings:
                click.echo(f"  note: {note}", err=True)
            if preview.cost:
                click.echo(f"  estimated cost: ${preview.cost:.2f}", err=True)
        elif preview.kind == "pictures":
            name = "preview_pictures.png" if not preview.round else f"preview_pictures_{preview.round}.png"
            sheet = contact_sheet(preview.files, self.files.path(job.job_id, name), numbers=numbers)
            if preview.round:
                click.echo(f"\nRedone: {_numbers(numbers)}: {sheet}", err=True)
            else:
                click.echo(f"\nFirst {len(preview.files)} pictures: {sheet}", err=True)
        else:
            click.echo(f"\nRedone: {_numbers(numbers)}:" if preview.round else f"\nFirst {len(preview.files)} clips:",
                       err=True)
            for number, path in zip(numbers, preview.files):
                click.echo(f"  {number:>3}. {path}", err=True)
        sys.stderr.flush()

    # ---- answering ----------------------------------------------------------------------
    def _answer(self, job: Job, preview: Preview) -> bool | Edit:
        """Ask until the reply is yes, no, or an edit that passes the checks."""
        while True:
            try:
                reply = click.prompt(QUESTIONS[preview.kind], default="", show_default=False, err=True)
            except click.Abort:  # end of input (or Ctrl-D): no
                return False
            words = reply.strip()
            if not words:
                continue
            if words.lower() in YES:
                return True
            if words.lower() in NO:
                return False
            try:
                if preview.kind == SCRIPT and words.lower() == "e":
                    edit = self._edit_in_editor(preview)
                    if edit is None:
                        click.echo("The script is unchanged.", err=True)
                        continue
                else:
                    edit = read_reply(job, preview.kind, words)
                if self.check is not None:
                    self.check(job, edit)
            except StoryReelError as exc:  # out of range, not made yet, over a limit or a cap
                click.echo(message_for(exc), err=True)
                continue
            return edit

    @staticmethod
    def _edit_in_editor(preview: Preview) -> Edit | None:
        """The whole script in ``$EDITOR``, one segment a line; None when it comes back
        unchanged or empty (or the editor cannot be run: that is said)."""
        before = "\n".join(seg.text for seg in preview.script.segments)
        try:
            after = click.edit(before + "\n", extension=".txt", require_save=True)
        except click.ClickException as exc:
            click.echo(exc.format_message(), err=True)
            return None
        if after is None or not after.strip() or after.split() == before.split():
            return None
        return Edit(SCRIPT, "replace", text=after.strip())


class BarProgress:
    """A tqdm bar per stage on stderr (pictures, clips and narration run side by side).
    While a question is on the terminal the bars keep counting but do not draw."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}
        self._counts: dict[str, tuple[int, int]] = {}
        self._paused = 0  # how many pauses are open (a sheet may be shown while a question waits)
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
            bar.total = total
            bar.n = self._counts[stage][0]
            bar.refresh()

    def pause(self) -> None:
        """Close the bars (their counts are kept) so a question can be read."""
        with self._lock:
            self._paused += 1
            self._close()

    def resume(self) -> None:
        """Draw again (from the kept counts) at the next step, once every pause ended."""
        with self._lock:
            self._paused = max(0, self._paused - 1)

    def close(self) -> None:
        """Close the bars for good (the run is over)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _clock(seconds: float) -> str:
    """``seconds`` as ``MM:SS.s``, the way a script's timings are shown."""
    m, s = divmod(seconds, 60)
    return f"{int(m):02d}:{s:04.1f}"
