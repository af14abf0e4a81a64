"""Everything the bot says, in Russian and English. Error messages live in
``storyreel.messages``; these are the conversation's own lines."""

from __future__ import annotations


TEXTS: dict[str, dict[str, str]] = {
    "start": {
        "en": "Hi! Send me a sentence or a voice note about the video you want, for example "
              "\u201ca video about the history of coffee\u201d. I will write a script, make pictures and clips, "
              "narrate it and send you a {minutes}-minute video; it takes about {eta} minutes. "
              "You approve the script, the first pictures and the first clips on the way. /cancel stops the job.",
        "ru": "Привет! Пришлите фразу или голосовое сообщение о видео, которое хотите, например "
              "\u00abвидео об истории кофе\u00bb. Я напишу сценарий, сделаю картинки и клипы, озвучу и пришлю "
              "видео на {minutes} мин.; это займёт около {eta} мин. По пути вы одобрите сценарий, первые картинки "
              "и первые клипы. /cancel останавливает задачу.",
    },
    "help": {
        "en": "Send a text (up to {limit} characters) or a voice note describing the video. Commands: "
              "/start — what I do, /help — this text, /cancel — stop the current video.",
        "ru": "Пришлите текст (до {limit} символов) или голосовое сообщение с описанием видео. Команды: "
              "/start — что я умею, /help — эта справка, /cancel — остановить текущее видео.",
    },
    "unsupported": {
        "en": "I understand text and voice messages only: describe the video you want.",
        "ru": "Я понимаю только текст и голосовые сообщения: опишите видео, которое хотите.",
    },
    "accepted": {
        "en": "Got it! Writing the script now. The whole video takes about {eta} minutes{cost}.",
        "ru": "Принято! Пишу сценарий. Всё видео займёт около {eta} мин.{cost}",
    },
    "cost_part": {"en": " and should cost about ${cost:.2f}", "ru": " Ориентировочная стоимость ${cost:.2f}."},
    "heard": {"en": "I heard: \u201c{text}\u201d", "ru": "Я услышал: \u00ab{text}\u00bb"},
    "script": {
        "en": "Script \u201c{title}\u201d ({segments} segments × {seconds:g} s){draft}{cost}:\n\n{body}",
        "ru": "Сценарий \u00ab{title}\u00bb ({segments} фрагм. × {seconds:g} с){draft}{cost}:\n\n{body}",
    },
    "script_cost": {"en": ", estimated cost ${cost:.2f}", "ru": ", ориентировочная стоимость ${cost:.2f}"},
    "draft": {"en": ", offline draft", "ru": ", офлайн-черновик"},
    "more": {"en": "… and {n} more segments", "ru": "… и ещё {n} фрагм."},
    "ask_script": {"en": "Approve the script?", "ru": "Одобрить сценарий?"},
    "ask_pictures": {"en": "Here are the first {n} pictures. Go on with these?",
                     "ru": "Вот первые {n} картинки. Продолжаем с ними?"},
    "ask_clips": {"en": "Here are the first {n} clips. Go on with these?",
                  "ru": "Вот первые {n} клипа. Продолжаем с ними?"},
    "approve": {"en": "✅ Approve", "ru": "✅ Одобрить"},
    "cancel": {"en": "❌ Cancel", "ru": "❌ Отменить"},
    "approved": {"en": "Approved ✅", "ru": "Одобрено ✅"},
    "cancelling": {"en": "Cancelling…", "ru": "Отменяю…"},
    "stopped": {"en": "Cancelled. The video is stopped and its files are being deleted.",
                "ru": "Отменено. Видео остановлено, его файлы удаляются."},
    "not_yours": {"en": "This button belongs to someone else's video.", "ru": "Эта кнопка от чужого видео."},
    "stale": {"en": "This button is no longer active.", "ru": "Эта кнопка больше не активна."},
    "already": {"en": "Already answered.", "ru": "Уже отвечено."},
    "no_job": {"en": "You have no video in progress.", "ru": "Сейчас у вас нет видео в работе."},
    "stage_pictures": {"en": "🖼 Making pictures: {done}/{total}", "ru": "🖼 Делаю картинки: {done}/{total}"},
    "stage_clips": {"en": "🎞 Making clips: {done}/{total}", "ru": "🎞 Делаю клипы: {done}/{total}"},
    "stage_narration": {"en": "🎙 Recording the narration…", "ru": "🎙 Записываю озвучку…"},
    "stage_assembly": {"en": "🎬 Putting the video together…", "ru": "🎬 Собираю видео…"},
    "done_caption": {"en": "{title} · {duration} · made with StoryReel", "ru": "{title} · {duration} · StoryReel"},
}


def text(key: str, language: str | None, /, **params: object) -> str:
    """The line ``key`` in ``language`` (English when it has none), filled with ``params``."""
    table = TEXTS[key]
    return table.get(ui_language(language), table["en"]).format(**params)


def ui_language(code: str | None) -> str:
    """Telegram's ``language_code`` ("ru", "en-US", "uk"…) → the language we answer in."""
    code = (code or "").lower()
    if code.startswith(("ru", "uk", "be", "kk")):
        return "ru"
    return "en"
