"""Builds the provider for each capability from the settings (the one place that chooses).

Issue-2 scope: every capability has an offline implementation; cloud ones are added
beside them and chosen here when their key is set.
"""

from __future__ import annotations

from ..settings import Settings
from .base import Providers


def build_providers(settings: Settings) -> Providers:
    """The ``Providers`` bundle the pipeline runs with."""
    from .local.motion import KenBurnsAnimator
    from .local.pictures import ProceduralPictureMaker
    from .local.script_writer import DraftScriptWriter
    from .local.speech import EspeakNarrator
    from .local.transcribe import SphinxTranscriber

    motion = KenBurnsAnimator(ffmpeg_binary=settings.ffmpeg_binary)
    motion.concurrency = settings.local_motion_workers  # CPU-bound: one clip per core
    return Providers(
        script=DraftScriptWriter(words_per_second=settings.words_per_second, max_tempo=settings.max_tempo),
        pictures=ProceduralPictureMaker(),
        motion=motion,
        speech=EspeakNarrator(),
        transcriber=SphinxTranscriber(),
    )
