"""The bot's parts, built once per worker process from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import redis as redis_lib

from ..media.files import FileManager
from ..providers.base import Providers
from ..providers.factory import build_providers
from ..providers.model_guard import ModelGuard, RedisLookupCache
from ..settings import Settings
from .client import TelegramClient
from .preferences import PreferenceStore, speech_voices
from .results import RedisResults
from .slots import RedisSlots
from .state import ActiveJobs, ApprovalManager, NewJobLimiter, RedisJobStore, RedisSpending, connect

#: a local Bot API server lifts the Bot API's 20 MB download and 50 MB upload limits to this
LOCAL_SERVER_LIMIT_MB = 2000.0


class Dispatcher(Protocol):
    """How the bot hands work to the workers (Celery in production; see ``worker.py``)."""

    def start_step(self, job_id: str) -> None: ...


@dataclass
class Services:
    """What the handlers and job steps use, each part built on first use and shared by
    every update and step of this process; ``close()`` releases what holds connections."""

    settings: Settings
    dispatcher: Dispatcher

    @cached_property
    def providers(self) -> Providers:
        """The providers every job of this process uses (their clients pool connections)."""
        return build_providers(self.settings)

    def close(self) -> None:
        """Close the providers' clients and the Redis connection pool, if they were built."""
        built = self.__dict__
        if "providers" in built:
            built.pop("providers").close()
        for name in ("redis", "redis_bytes"):
            if name in built:
                built.pop(name).close()

    @cached_property
    def redis(self):
        return connect(self.settings)

    @cached_property
    def redis_bytes(self):
        """A second pool to the same Redis that answers bytes (files), not text."""
        return redis_lib.Redis.from_url(self.settings.redis_url, health_check_interval=30)

    @cached_property
    def slots(self) -> RedisSlots:
        """The model slots every worker shares: the per-model limits hold across processes
        and hosts. A dead worker's slots lapse with its job locks (``JOB_LOCK_SECONDS``)."""
        return RedisSlots(self.redis, ttl=self.settings.job_lock_seconds)

    @cached_property
    def results(self) -> RedisResults:
        """Paid results (narration pieces) kept where a job resumed on another host finds them."""
        return RedisResults(self.redis_bytes)

    @cached_property
    def client(self) -> TelegramClient:
        return TelegramClient(self.settings)

    @cached_property
    def preferences(self) -> PreferenceStore:
        """What each person chose in ``/settings``; a voice the speech provider no longer
        offers reads back as its default."""
        return PreferenceStore(self.redis, self.settings, voices=lambda: speech_voices(self.providers))

    @cached_property
    def store(self) -> RedisJobStore:
        return RedisJobStore(self.redis)

    @cached_property
    def approvals(self) -> ApprovalManager:
        return ApprovalManager(self.redis, self.settings.approval_ttl)

    @cached_property
    def active(self) -> ActiveJobs:
        return ActiveJobs(self.redis, self.settings.active_jobs_per_user)

    @cached_property
    def limiter(self) -> NewJobLimiter:
        return NewJobLimiter(self.settings)

    @cached_property
    def spending(self) -> RedisSpending:
        return RedisSpending(self.redis)

    @cached_property
    def models(self) -> ModelGuard:
        """The shutdown-date check of the OpenAI models, cached in Redis for every process."""
        return ModelGuard(self.settings, cache=RedisLookupCache(self.redis))

    @cached_property
    def files(self) -> FileManager:
        return FileManager(self.settings.work_dir)

    @property
    def local_api(self) -> bool:
        return self.settings.telegram_local_server

    @property
    def download_limit_mb(self) -> float:
        return LOCAL_SERVER_LIMIT_MB if self.local_api else self.settings.max_download_mb

    @property
    def upload_settings(self) -> Settings:
        """The settings a job runs with: the upload limit follows the Bot API server."""
        if self.local_api:
            return self.settings.model_copy(update={"max_upload_mb": LOCAL_SERVER_LIMIT_MB})
        return self.settings
