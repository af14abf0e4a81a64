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
    # ---- editing at the gates
    "ask_pictures_again": {"en": "Redone: {numbers}. Go on with the pictures now?",
                           "ru": "Переделано: {numbers}. Продолжаем с картинками?"},
    "ask_clips_again": {"en": "Redone: {numbers}. Go on with the clips now?",
                        "ru": "Переделано: {numbers}. Продолжаем с клипами?"},
    "how_script": {
        "en": "To change it, reply with the whole corrected script, one segment (“7: new words”) "
              "or a note (“shorter”, “funnier”).",
        "ru": "Чтобы изменить, пришлите исправленный сценарий целиком, один фрагмент («7: новый текст») "
              "или пожелание («короче», «смешнее»).",
    },
    "how_pictures": {
        "en": "To redo pictures, press 🔁 or reply with their numbers (“3, 17”), "
              "optionally with a new description (“3: a lighthouse at night”).",
        "ru": "Чтобы переделать картинки, нажмите 🔁 или ответьте их номерами («3, 17»), "
              "можно с новым описанием («3: маяк ночью»).",
    },
    "how_clips": {
        "en": "To redo clips, press 🔁 or reply with their numbers (“redo 2”), "
              "optionally with how it should move (“2: slow zoom in”).",
        "ru": "Чтобы переделать клипы, нажмите 🔁 или ответьте их номерами («переделай 2»), "
              "можно с описанием движения («2: медленное приближение»).",
    },
    "how_script_short": {
        "en": "Reply with the corrected script, “7: new words” or a note like “shorter”.",
        "ru": "Ответьте исправленным сценарием, «7: новый текст» или пожеланием вроде «короче».",
    },
    "edit_button": {"en": "✏️ Edit", "ru": "✏️ Изменить"},
    "revision": {"en": ", revision {n}", "ru": ", правка {n}"},
    "saving": {"en": " Fast pictures and the animation budget save about ${saved:.2f}.",
               "ru": " Быстрые картинки и бюджет анимации экономят около ${saved:.2f}."},
    "script_saving": {"en": " (${saved:.2f} saved by your choices)", "ru": " (экономия ${saved:.2f} за счёт ваших настроек)"},
    "sheet": {"en": "Pictures {first}–{last}", "ru": "Картинки {first}–{last}"},
    "edit_taken_replace": {"en": "Got your script: splitting it into segments…",
                           "ru": "Получил ваш сценарий: разбиваю на фрагменты…"},
    "edit_taken_segment": {"en": "Segment {numbers} changed. Here is the script again…",
                           "ru": "Фрагмент {numbers} изменён. Сейчас пришлю сценарий…"},
    "edit_taken_note": {"en": "Rewriting the script: “{note}”{cost}…",
                        "ru": "Переписываю сценарий: «{note}»{cost}…"},
    "redo_taken_pictures": {"en": "🔁 Redoing picture(s) {numbers}{cost}…",
                            "ru": "🔁 Переделываю картинки {numbers}{cost}…"},
    "redo_taken_clips": {"en": "🔁 Redoing clip(s) {numbers}{cost}…", "ru": "🔁 Переделываю клипы {numbers}{cost}…"},
    "edit_cost": {"en": " (about ${cost:.2f})", "ru": " (около ${cost:.2f})"},
    "redo_pressed": {"en": "🔁 {number}", "ru": "🔁 {number}"},
    "gate_waiting": {
        "en": "Your video above is waiting for your answer: press ✅ or ❌, or reply with the numbers of the ones "
              "to redo (e.g. “3, 17” or “3: a lighthouse at night”). A new video can start once "
              "this one is done.",
        "ru": "Ваше видео выше ждёт ответа: нажмите ✅ или ❌ или ответьте номерами того, что переделать "
              "(например, «3, 17» или «3: маяк ночью»). Новое видео можно начать, когда это "
              "будет готово.",
    },
    "edit_pending": {"en": "Your change is being made: wait for the new version.",
                     "ru": "Ваша правка ещё делается: дождитесь новой версии."},
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
    # ---- /settings
    "st_menu": {
        "en": "⚙️ Settings for your next videos\n\n"
              "📐 Format: {aspect}\n"
              "⏱ Length: {length} ({segments} segments × {seconds:g} s)\n"
              "🗣 Voice: {voice}; narration: {narration}\n"
              "💬 Subtitles: {subtitles}\n"
              "🎵 Music: {music}\n"
              "🎨 Visual style: {visual}\n"
              "🖼 Reference: {reference}\n"
              "⚡ Fast pictures: {fast}\n"
              "🎞 Animated segments: {motion}\n\n"
              "{estimate}",
        "ru": "⚙️ Настройки следующих видео\n\n"
              "📐 Формат: {aspect}\n"
              "⏱ Длина: {length} ({segments} фрагм. × {seconds:g} с)\n"
              "🗣 Голос: {voice}; манера: {narration}\n"
              "💬 Субтитры: {subtitles}\n"
              "🎵 Музыка: {music}\n"
              "🎨 Визуальный стиль: {visual}\n"
              "🖼 Образец: {reference}\n"
              "⚡ Быстрые картинки: {fast}\n"
              "🎞 Анимированные фрагменты: {motion}\n\n"
              "{estimate}",
    },
    "st_estimate": {"en": "A video like this takes about {eta} min to make.",
                    "ru": "Такое видео делается около {eta} мин."},
    "st_estimate_cost": {"en": "A video like this takes about {eta} min to make and costs about ${cost:.2f}.",
                         "ru": "Такое видео делается около {eta} мин. и стоит около ${cost:.2f}."},
    "st_on": {"en": "on", "ru": "вкл."},
    "st_off": {"en": "off", "ru": "выкл."},
    "st_none": {"en": "none", "ru": "нет"},
    "st_seconds": {"en": "{n} s", "ru": "{n} с"},
    "st_minutes": {"en": "{n} min", "ru": "{n} мин"},
    "st_ref_off": {"en": "off", "ru": "нет"},
    "st_ref_first": {"en": "the first picture", "ru": "первая картинка"},
    "st_ref_user": {"en": "my picture", "ru": "моя картинка"},
    "st_ref_waiting": {"en": "my picture (send me a photo)", "ru": "моя картинка (пришлите фото)"},
    "st_motion_all": {"en": "all", "ru": "все"},
    "st_motion_some": {"en": "{n} most visual", "ru": "{n} самых зрелищных"},
    "st_b_format": {"en": "📐 Format", "ru": "📐 Формат"},
    "st_b_length": {"en": "⏱ Length", "ru": "⏱ Длина"},
    "st_b_voice": {"en": "🗣 Voice", "ru": "🗣 Голос"},
    "st_b_sample": {"en": "🔊 Sample", "ru": "🔊 Послушать"},
    "st_b_narration": {"en": "🎙 Narration", "ru": "🎙 Манера"},
    "st_b_visual": {"en": "🎨 Visual style", "ru": "🎨 Стиль"},
    "st_b_reference": {"en": "🖼 Reference", "ru": "🖼 Образец"},
    "st_b_motion": {"en": "🎞 Animation", "ru": "🎞 Анимация"},
    "st_b_subtitles": {"en": "💬 Subtitles: {value}", "ru": "💬 Субтитры: {value}"},
    "st_b_music": {"en": "🎵 Music: {value}", "ru": "🎵 Музыка: {value}"},
    "st_b_fast": {"en": "⚡ Fast pictures: {value}", "ru": "⚡ Быстрые картинки: {value}"},
    "st_b_done": {"en": "✅ Done", "ru": "✅ Готово"},
    "st_b_back": {"en": "« Back", "ru": "« Назад"},
    "st_pick_f": {"en": "Choose the format:", "ru": "Выберите формат:"},
    "st_pick_l": {"en": "Choose the length:", "ru": "Выберите длину:"},
    "st_pick_v": {"en": "Choose the narrator's voice:", "ru": "Выберите голос диктора:"},
    "st_pick_n": {"en": "How should the narrator sound?", "ru": "Как должен звучать диктор?"},
    "st_pick_y": {"en": "Choose the visual style:", "ru": "Выберите визуальный стиль:"},
    "st_pick_r": {"en": "What sets the look of every picture: the first picture, or a photo of yours "
                        "(send it after choosing)?",
                  "ru": "Что задаёт облик всех картинок: первая картинка или ваше фото "
                        "(пришлите его после выбора)?"},
    "st_pick_b": {"en": "How many segments should the motion model animate? The rest pan and zoom, "
                        "which is cheaper.",
                  "ru": "Сколько фрагментов анимировать моделью движения? Остальные — панорама и зум, "
                        "это дешевле."},
    "st_stale": {"en": "This menu is out of date, send /settings", "ru": "Это меню устарело, отправьте /settings"},
    "st_not_yours": {"en": "This menu is not yours.", "ru": "Это не ваше меню."},
    "st_sample_wait": {"en": "🔊 Recording a sample…", "ru": "🔊 Записываю пример…"},
    "st_sample_text": {"en": "Hello! This is how the narration of your video will sound.",
                       "ru": "Здравствуйте! Так будет звучать озвучка вашего видео."},
    "st_sample_caption": {"en": "🔊 {voice}; narration: {narration}", "ru": "🔊 {voice}; манера: {narration}"},
    "st_no_voice": {"en": "Your privacy settings do not let me send voice messages, so I cannot play the sample.",
                    "ru": "Ваши настройки приватности не разрешают мне голосовые сообщения, "
                          "поэтому пример не прислать."},
    "st_send_photo": {"en": "Now send me a photo: it will set the look of every picture.",
                      "ru": "Теперь пришлите фото: оно задаст облик всех картинок."},
    "st_photo_taken": {"en": "Got it: this photo will set the look of the pictures in your next videos.",
                       "ru": "Принято: это фото задаст облик картинок в ваших следующих видео."},
    "st_photo_hint": {"en": "To use a photo as the reference for the pictures, choose 🖼 Reference → "
                            "my picture in /settings first. To make a video, send me a text or a voice note.",
                      "ru": "Чтобы фото стало образцом для картинок, сначала выберите в /settings "
                            "🖼 Образец → моя картинка. Чтобы сделать видео, пришлите текст или голосовое."},
    "st_saved": {"en": "Saved ✅", "ru": "Сохранено ✅"},
    "st_closed": {"en": "Saved. Send me a text or a voice note to make a video with these settings.",
                  "ru": "Сохранено. Пришлите текст или голосовое, чтобы сделать видео с этими настройками."},
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
