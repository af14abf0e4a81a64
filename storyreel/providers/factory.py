"""Builds the provider for each capability from the settings (the one place that chooses).

Per stage (script, pictures, motion, speech, transcription): the cloud provider when its
key is set, the offline one otherwise — or the one named in ``PROVIDERS`` /
``--providers`` (``pictures=runway,motion=local``). Naming a cloud provider without its
key is a ``ConfigError`` at start-up, naming the variable.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..settings import Settings
from .base import Providers

STAGES = ("script", "pictures", "motion", "speech", "transcription")
#: which providers can do which stage
CHOICES = {
    "script": ("openai", "local"),
    "pictures": ("runway", "local"),
    "motion": ("runway", "local"),
    "speech": ("openai", "local"),
    "transcription": ("openai", "local"),
}


def parse_choices(text: str) -> dict[str, str]:
    """``"pictures=runway, motion=local"`` → ``{"pictures": "runway", "motion": "local"}``."""
    chosen: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        stage, _, name = part.partition("=")
        stage, name = stage.strip().lower(), name.strip().lower()
        if stage not in CHOICES:
            raise ConfigError(f"unknown stage {stage!r}", code="config",
                              reason=f"PROVIDERS: unknown stage {stage!r} (one of {', '.join(STAGES)})")
        if name not in CHOICES[stage]:
            raise ConfigError(f"unknown provider {name!r}", code="config",
                              reason=f"PROVIDERS: {stage} can be {' or '.join(CHOICES[stage])}, not {name!r}")
        chosen[stage] = name
    return chosen


def choose(settings: Settings) -> dict[str, str]:
    """The provider name for every stage."""
    explicit = parse_choices(settings.providers)
    has_openai = settings.secret(settings.openai_api_key) is not None
    has_runway = settings.secret(settings.runway_api_key) is not None
    # speech may go to its own OpenAI-compatible server, which may need no OpenAI key
    has_speech = has_openai or bool(settings.openai_speech_base_url)
    default = {"script": "openai" if has_openai else "local",
               "pictures": "runway" if has_runway else "local",
               "motion": "runway" if has_runway else "local",
               "speech": "openai" if has_speech else "local",
               "transcription": "openai" if has_openai else "local"}
    chosen = {**default, **explicit}
    for stage, name in chosen.items():
        if name == "openai" and not (has_speech if stage == "speech" else has_openai):
            raise ConfigError("OPENAI_API_KEY is not set", code="config",
                              reason=f"{stage} uses OpenAI but OPENAI_API_KEY is not set")
        if name == "runway" and not has_runway:
            raise ConfigError("RUNWAY_API_KEY is not set", code="config",
                              reason=f"{stage} uses Runway but RUNWAY_API_KEY is not set")
    return chosen


def build_providers(settings: Settings) -> Providers:
    """The ``Providers`` bundle the pipeline runs with. Build it once per process and
    share it between jobs; ``close()`` (or ``with``) releases its clients. A job's cancel
    and stop checks reach the providers with each call, not here."""
    chosen = choose(settings)
    openai_client = runway_client = None
    if any(name == "openai" for stage, name in chosen.items() if stage != "speech"):
        from .openai_common import make_openai_client

        openai_client = make_openai_client(settings)
    if "runway" in chosen.values():
        from .cloud_runway import make_runway_client

        runway_client = make_runway_client(settings)

    if chosen["script"] == "openai":
        from .openai_script import OpenAIScriptWriter

        script = OpenAIScriptWriter(openai_client, settings)
    else:
        from .local.script_writer import DraftScriptWriter

        script = DraftScriptWriter(words_per_second=settings.words_per_second, max_tempo=settings.max_tempo)

    if chosen["pictures"] == "runway":
        from .cloud_runway import RunwayPictureMaker

        pictures = RunwayPictureMaker(runway_client, settings)
    else:
        from .local.pictures import ProceduralPictureMaker

        pictures = ProceduralPictureMaker()

    from .local.motion import KenBurnsAnimator

    local_motion = KenBurnsAnimator(ffmpeg_binary=settings.ffmpeg_binary)
    local_motion.concurrency = settings.local_motion_workers  # CPU-bound: one clip per core
    if chosen["motion"] == "runway":
        from .cloud_runway import RunwayAnimator

        motion = RunwayAnimator(runway_client, settings)
    else:
        motion, local_motion = local_motion, None

    speech_client = None
    if chosen["speech"] == "openai":
        from .openai_common import make_speech_client, speech_api

        separate = settings.openai_speech_base_url or settings.secret(settings.openai_speech_api_key)
        speech_client = make_speech_client(settings) if separate or openai_client is None else openai_client
        if speech_api(settings) == "realtime":
            from .openai_realtime import OpenAIRealtimeNarrator

            speech = OpenAIRealtimeNarrator(speech_client, settings)
        else:
            from .openai_audio import OpenAINarrator

            speech = OpenAINarrator(speech_client, settings)
    else:
        from .local.speech import EspeakNarrator

        speech = EspeakNarrator()

    if chosen["transcription"] == "openai":
        from .openai_audio import OpenAITranscriber

        transcriber = OpenAITranscriber(openai_client, settings)
    else:
        from .local.transcribe import SphinxTranscriber

        transcriber = SphinxTranscriber()
    clients = [c for c in (openai_client, runway_client, speech_client) if c is not None]
    return Providers(script=script, pictures=pictures, motion=motion, speech=speech, transcriber=transcriber,
                     local_motion=local_motion, clients=clients)
