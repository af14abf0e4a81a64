"""The Telegram bot: a thin shell around the pipeline (no pipeline logic lives here).

    inbox.py      each chat's updates in Redis, handled one at a time in update_id order
    handlers.py   one update in → replies, jobs, approvals (runs on a worker)
    jobs.py       one step of a job on a worker: the pipeline with Telegram approvals
    state.py      what lives in Redis: jobs, approvals, cancel flags, limits, locks
    client.py     python-telegram-bot's Bot, called from synchronous code; 429s waited out
    texts.py      everything the bot says, in Russian and English
"""
