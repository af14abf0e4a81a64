"""What a person's choices for a video mean for each segment: which segments the paid
motion model animates (the motion budget), and what every picture shares (the visual
style, the script's look, the reference picture). The stages and the estimate both ask
here, so what is priced is what is made."""

from __future__ import annotations

from pathlib import Path

from ..models import Job, JobOptions
from ..providers.base import PictureStyle
from ..settings import Settings

#: the reference modes
OFF, FIRST, USER = "off", "first", "user"


def animated(job: Job) -> set[int]:
    """The segments the motion provider animates: all of them, or with a motion budget of
    N the N the script writer marked most visual (spread evenly when it marked fewer)."""
    count = job.segment_count if job.script is None else len(job.script.segments)
    return motion_segments(count, job.options.motion_budget, job.script.highlights if job.script else [])


def motion_segments(count: int, budget: int, highlights: list[int]) -> set[int]:
    if budget <= 0 or budget >= count:
        return set(range(count))
    chosen: list[int] = []
    for i in highlights:
        if 0 <= i < count and i not in chosen:
            chosen.append(i)
        if len(chosen) == budget:
            return set(chosen)
    step = count / budget
    for k in range(count):  # evenly spread, skipping the ones already chosen
        i = min(count - 1, int(k * step))
        if i not in chosen:
            chosen.append(i)
        if len(chosen) == budget:
            break
    for i in range(count):
        if len(chosen) == budget:
            break
        if i not in chosen:
            chosen.append(i)
    return set(chosen)


def waits_for_first(options: JobOptions) -> bool:
    """True when the pictures after the first follow it (its look is their reference), so
    they start only once it exists. Fast pictures need a reference: without the person's
    own, the first picture is it."""
    return options.reference == FIRST or (options.fast_pictures and not _user_reference(options))


def _user_reference(options: JobOptions) -> bool:
    return options.reference == USER and bool(options.reference_image)


def picture_style(settings: Settings, job: Job, index: int, first_picture: str | None) -> PictureStyle:
    """What picture ``index`` shares with the others; ``first_picture`` is picture 1's file."""
    options = job.options
    references: tuple[Path, ...] = ()
    if _user_reference(options) and Path(options.reference_image).exists():
        references = (Path(options.reference_image),)
    elif waits_for_first(options) and index != 0 and first_picture and Path(first_picture).exists():
        references = (Path(first_picture),)
    name = options.visual_style if options.visual_style in settings.visual_styles else ""
    return PictureStyle(name=name, prompt=settings.visual_styles.get(name, ""),
                        look=job.script.look if job.script else "", references=references,
                        fast=options.fast_pictures)


def uses_fast_model(options: JobOptions, index: int) -> bool:
    """True when picture ``index`` is made with the cheaper model (it has a reference)."""
    return options.fast_pictures and (_user_reference(options) or index != 0)


def narration_style(settings: Settings, options: JobOptions) -> str:
    """The instruction for how the narrator sounds ("" leaves the server's own)."""
    return settings.narration_styles.get(options.narration_style, "")
