"""Every Redis key StoryReel uses, in one place (the bot's state, the webhook's dedupe,
spending, model lookups). Each process that shares a Redis shares these names.

    storyreel:job:{job_id}              the job (JSON), kept a day after its last change
    approval:{job_id}:{type}            "pending" | "approved" | "cancelled" (type: script, images, videos)
    approval:{job_id}:buttons           messages whose ✅/❌ buttons were already taken away
    storyreel:cancel:{job_id}           why the job was stopped: "user" | "timeout" | "blocked"
    storyreel:edits:{job_id}            the edits asked at the job's gates, in order (list of JSON)
    storyreel:active:{user_id}          the user's running jobs (sorted set, scored by start time)
    storyreel:lock:{job_id}             held by the worker running the job's step
    storyreel:again:{job_id}            "someone asked for a step while the lock was held"
    storyreel:running                   the jobs whose step should be running now (set)
    storyreel:approval-deadlines        approvals still open, scored by their deadline
    storyreel:update:{update_id}        a Telegram update already accepted (dedupe, a day)
    storyreel:spend:{user_id}:{day}     a user's spending on one UTC day (USD), kept two days
    storyreel:model:{model}@{host}      an OpenAI model's shutdown-date lookup (JSON)
    LIMITS:…                            the `limits` library's rate-limit windows
"""

from __future__ import annotations

PREFIX = "storyreel:"
RUNNING = "storyreel:running"
DEADLINES = "storyreel:approval-deadlines"
UPDATE_PREFIX = "storyreel:update:"
SPEND_PREFIX = "storyreel:spend"
MODEL_PREFIX = "storyreel:model:"
JOB_PATTERN = "storyreel:job:*"


def job(job_id: str) -> str:
    return f"storyreel:job:{job_id}"


def approval(job_id: str, key_type: str) -> str:
    return f"approval:{job_id}:{key_type}"


def buttons_cleared(job_id: str) -> str:
    """The ids of a job's messages whose ✅/❌ buttons were taken away (a set, kept a day)."""
    return f"approval:{job_id}:buttons"


def cancel(job_id: str) -> str:
    return f"storyreel:cancel:{job_id}"


def edits(job_id: str) -> str:
    """The edits a person asked of a job at its gates, in order (a list of JSON)."""
    return f"storyreel:edits:{job_id}"


def active(user_id: int | str | None) -> str:
    return f"storyreel:active:{user_id}"


def lock(job_id: str) -> str:
    return f"storyreel:lock:{job_id}"


def again(job_id: str) -> str:
    return f"storyreel:again:{job_id}"


def update(update_id: int | str) -> str:
    return f"{UPDATE_PREFIX}{update_id}"


def spend(user_id: int | str | None, day: str) -> str:
    return f"{SPEND_PREFIX}:{user_id}:{day}"


# ---- the inbox: each chat's updates, taken in order -----------------------------------
# (keys of the webhook-to-worker hand-over are added here)
#   storyreel:inbox:{chat}            a chat's updates waiting (sorted set: update_id scored by itself)
#   storyreel:inbox-body:{chat}       their bodies (hash: update_id -> the update's JSON)
#   storyreel:inbox-chats             the chats with updates waiting, scored by when a drain was last asked for
#   storyreel:inbox-lock:{chat}       the drainer's token, a lease renewed while it works
#   storyreel:inbox-asked:{chat}      "a drain of the chat was asked for and has not started"
#   storyreel:update-done:{update_id} an update handled (a day: Telegram stops re-sending by then)
INBOX_CHATS = "storyreel:inbox-chats"


def inbox(chat: str) -> str:
    return f"storyreel:inbox:{chat}"


def inbox_bodies(chat: str) -> str:
    return f"storyreel:inbox-body:{chat}"


def inbox_lock(chat: str) -> str:
    return f"storyreel:inbox-lock:{chat}"


def inbox_asked(chat: str) -> str:
    return f"storyreel:inbox-asked:{chat}"


def update_done(update_id: int | str) -> str:
    return f"storyreel:update-done:{update_id}"


# ---- limits shared by every worker, and paid results every host can reach ----------------
# (keys of the cross-process model slots and the shared results are added here)
#   storyreel:slots:{model}           a model's calls running now, on any worker: lease ids
#                                     scored by when they lapse (a dead holder's lease lapses)
#   storyreel:results:{job_id}        a job's paid files no other host could get back for free
#                                     (hash: "narration/007" -> WAV bytes), kept as long as the job
SLOTS_PREFIX = "storyreel:slots:"


def slots(model: str) -> str:
    return f"{SLOTS_PREFIX}{model}"


def results(job_id: str) -> str:
    return f"storyreel:results:{job_id}"


# ---- what each person chose for their videos (the bot's /settings) ------------------------
#   storyreel:prefs:{user_id}         hash: "choices" -> the choices (JSON), "menu" -> the id of
#                                     the person's latest /settings message (kept a year)
#   storyreel:voice-samples           hash: "{provider}|{voice}|{style}|{language}" -> the
#                                     Telegram file_id of that voice's sample, paid for once
VOICE_SAMPLES = "storyreel:voice-samples"


def preferences(user_id: int | str) -> str:
    return f"storyreel:prefs:{user_id}"
