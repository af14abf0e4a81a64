"""One error tree for the whole product.

    StoryReelError                 root; ``code`` names a message in ``storyreel.messages``
    ├── TransientError             worth retrying, maybe after ``retry_after`` seconds
    │   └── ProviderUnavailable    a generation task failed or timed out: worth a new task
    └── PermanentError             retrying will not help: tell the user
        ├── InputError             the user's input is unusable (empty prompt, bad file…)
        │   └── CostCapExceeded    the job would cost more than a cap allows
        ├── ProviderFailed         still failing after the SDK's own retries (5xx, network)
        ├── QuotaExceeded          the provider's quota for today is used up (429 on create)
        ├── NotAvailableOffline    the offline provider cannot do this (e.g. a language)
        ├── ProviderRejected       a provider refused the request (safety, bad request…)
        ├── MediaError             FFmpeg (or another media step) failed or is missing
        ├── ConfigError            a setting is missing or malformed
        ├── UserBlocked            the user blocked the bot (Telegram's 403): nothing can reach them
        └── JobCancelled           the user (or a timeout) cancelled the job
    StepInterrupted (BaseException)  this process is stopping: the job is not over, another
                                   worker goes on with it (not an error of the job's)

Third-party and subprocess errors are mapped to these at the adapter boundary
(``raise … from exc``); nothing above the providers and the media layer sees a
foreign exception. Every exception pickles, because errors cross process boundaries
(Celery workers) in later stages of the product.
"""

from __future__ import annotations


class StoryReelError(Exception):
    """Root of every error StoryReel raises on purpose.

    ``code`` selects the human message shown to the user; ``detail`` is for the log only
    (it may hold provider internals and must never be shown to the user).
    """

    code = "internal"

    def __init__(self, detail: str = "", *, code: str | None = None, **context: object) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.context = context

    def __reduce__(self):  # keep ``code`` and ``context`` across pickling
        return (_rebuild, (type(self), self.detail, self.code, self.context, self._extra()))

    def _extra(self) -> dict:
        return {}

    def __str__(self) -> str:
        return self.detail or self.code


def _rebuild(cls, detail, code, context, extra):
    err = cls.__new__(cls)
    StoryReelError.__init__(err, detail, code=code, **context)
    err.__dict__.update(extra)
    return err


class TransientError(StoryReelError):
    """A failure that may go away: retry, after ``retry_after`` seconds when given."""

    code = "temporary"

    def __init__(self, detail: str = "", *, retry_after: float | None = None, **kw) -> None:
        super().__init__(detail, **kw)
        self.retry_after = retry_after

    def _extra(self) -> dict:
        return {"retry_after": self.retry_after}


class ProviderUnavailable(TransientError):
    code = "provider_unavailable"


class PermanentError(StoryReelError):
    """A failure retrying will not fix; the user is told."""

    code = "failed"


class InputError(PermanentError):
    code = "bad_input"


class CostCapExceeded(InputError):
    code = "cost_cap_job"


class ProviderFailed(PermanentError):
    """The provider kept failing after the layer that retries it (its SDK) gave up; not
    retried again, so one failure is never retried by two layers."""

    code = "provider_unavailable"


class QuotaExceeded(PermanentError):
    code = "provider_quota"


class NotAvailableOffline(PermanentError):
    code = "not_available_offline"


class ProviderRejected(PermanentError):
    code = "provider_rejected"


class MediaError(PermanentError):
    code = "media_failed"


class ConfigError(PermanentError):
    code = "config"


class UserBlocked(PermanentError):
    """The user blocked the bot, or can no longer be written to (Telegram answers 403).
    Nothing more is sent to them and their jobs end; retrying cannot help."""

    code = "user_blocked"


class JobCancelled(PermanentError):
    code = "cancelled"


class StepInterrupted(BaseException):
    """The process running a job's step is shutting down (SIGTERM). Derived from
    ``BaseException`` like ``KeyboardInterrupt``: no ``except Exception`` may treat it as
    the job failing. The job keeps its recorded state and is handed to another worker."""
