"""The one dictionary of human messages for failures, in Russian and English.

An error's ``code`` picks the message; its detail never reaches the user.
"""

from __future__ import annotations

from .errors import StoryReelError

ERROR_MESSAGES: dict[str, dict[str, str]] = {
    "internal": {
        "en": "Something went wrong on our side. Please try again later.",
        "ru": "Что-то пошло не так на нашей стороне. Попробуйте позже.",
    },
    "temporary": {
        "en": "A service we rely on is busy right now. Please try again in a few minutes.",
        "ru": "Один из сервисов сейчас перегружен. Попробуйте через несколько минут.",
    },
    "provider_unavailable": {
        "en": "The image or voice service did not answer in time. Please try again later.",
        "ru": "Сервис генерации не ответил вовремя. Попробуйте позже.",
    },
    "failed": {
        "en": "The video could not be made.",
        "ru": "Не удалось сделать видео.",
    },
    "bad_input": {
        "en": "That input cannot be used.",
        "ru": "Эти данные нельзя использовать.",
    },
    "empty_prompt": {
        "en": "The prompt is empty: describe the video you want in a sentence or two.",
        "ru": "Запрос пустой: опишите видео одним-двумя предложениями.",
    },
    "prompt_too_long": {
        "en": "The prompt is too long ({limit} characters at most). Please shorten it.",
        "ru": "Запрос слишком длинный (не больше {limit} символов). Сократите его, пожалуйста.",
    },
    "script_unreadable": {
        "en": "The script file cannot be read: {reason}.",
        "ru": "Не удалось прочитать файл сценария: {reason}.",
    },
    "script_empty": {
        "en": "The script file is empty.",
        "ru": "Файл сценария пустой.",
    },
    "output_unwritable": {
        "en": "The video cannot be written to {path}: {reason}.",
        "ru": "Не удаётся записать видео в {path}: {reason}.",
    },
    "music_unreadable": {
        "en": "The music file cannot be used: {reason}.",
        "ru": "Не удалось использовать файл музыки: {reason}.",
    },
    "bad_job_id": {
        "en": "That job does not exist.",
        "ru": "Такой задачи нет.",
    },
    "language_not_available_offline": {
        "en": "That language is not available offline; set an OpenAI key to use it.",
        "ru": "Этот язык недоступен в офлайн-режиме; для него нужен ключ OpenAI.",
    },
    "not_available_offline": {
        "en": "This is not available offline.",
        "ru": "Это недоступно в офлайн-режиме.",
    },
    "audio_unreadable": {
        "en": "The voice message cannot be read. Please record it again.",
        "ru": "Не удалось прочитать голосовое сообщение. Запишите его ещё раз.",
    },
    "transcription_empty": {
        "en": "I could not make out any words. Please speak clearly or send text.",
        "ru": "Не удалось разобрать слова. Говорите чётче или напишите текстом.",
    },
    "provider_rejected": {
        "en": "The generation service refused this request. Please rephrase the prompt.",
        "ru": "Сервис генерации отклонил запрос. Попробуйте сформулировать иначе.",
    },
    "media_failed": {
        "en": "Putting the video together failed.",
        "ru": "Не удалось собрать видео.",
    },
    "media_unreadable": {
        "en": "A media file could not be read.",
        "ru": "Не удалось прочитать медиафайл.",
    },
    "ffmpeg_missing": {
        "en": "FFmpeg cannot be run: set FFMPEG_BINARY or reinstall StoryReel.",
        "ru": "Не удаётся запустить FFmpeg: задайте FFMPEG_BINARY или переустановите StoryReel.",
    },
    "video_too_long": {
        "en": "This video is too long to fit the upload limit at a watchable quality.",
        "ru": "Видео слишком длинное, чтобы уложиться в лимит размера с приемлемым качеством.",
    },
    "video_too_large": {
        "en": "The finished video came out over the upload limit.",
        "ru": "Готовое видео получилось больше допустимого размера.",
    },
    "config": {
        "en": "StoryReel is not configured correctly: {reason}.",
        "ru": "StoryReel настроен неверно: {reason}.",
    },
    "espeak_unavailable": {
        "en": "The offline voice cannot start on this machine; reinstall StoryReel or set an OpenAI key.",
        "ru": "Офлайн-голос не запускается на этой машине; переустановите StoryReel или задайте ключ OpenAI.",
    },
    "pocketsphinx_unavailable": {
        "en": "Offline speech recognition cannot start on this machine; please send text instead.",
        "ru": "Офлайн-распознавание речи не запускается на этой машине; пришлите текст.",
    },
    "narration_too_long": {
        "en": "A piece of the script is too long to narrate in one go.",
        "ru": "Фрагмент сценария слишком длинный для озвучки.",
    },
    "picture_failed": {
        "en": "A picture could not be made.",
        "ru": "Не удалось сделать картинку.",
    },
    "font_missing": {
        "en": "The font StoryReel draws text with is missing; reinstall StoryReel.",
        "ru": "Не найден шрифт для надписей; переустановите StoryReel.",
    },
    "provider_quota": {
        "en": "The generation service's quota for today is used up. Please try again tomorrow.",
        "ru": "Дневная квота сервиса генерации исчерпана. Попробуйте завтра.",
    },
    "provider_auth": {
        "en": "The generation service refused our credentials; the operator has been told.",
        "ru": "Сервис генерации не принял наши ключи доступа; оператор уже знает.",
    },
    "safety_rejected": {
        "en": "The generation service's safety filter refused this content. Please rephrase the prompt.",
        "ru": "Фильтр безопасности сервиса генерации отклонил этот запрос. Сформулируйте его иначе.",
    },
    "generation_failed": {
        "en": "A picture or clip could not be generated, even after retrying.",
        "ru": "Не удалось сгенерировать картинку или клип даже после повторных попыток.",
    },
    "generation_timeout": {
        "en": "A picture or clip took too long to generate.",
        "ru": "Генерация картинки или клипа заняла слишком много времени.",
    },
    "script_invalid": {
        "en": "The script writer returned an unusable script. Please try again or rephrase the prompt.",
        "ru": "Не удалось получить пригодный сценарий. Попробуйте ещё раз или измените запрос.",
    },
    "audio_too_large": {
        "en": "The voice message is too long to transcribe ({limit_mb} MB at most).",
        "ru": "Голосовое сообщение слишком длинное для распознавания (не больше {limit_mb} МБ).",
    },
    "voice_too_large": {
        "en": "The voice message is too large ({limit_mb} MB at most). Please send a shorter one or text.",
        "ru": "Голосовое сообщение слишком большое (не больше {limit_mb} МБ). Запишите короче или напишите текстом.",
    },
    "unknown_voice": {
        "en": "That narrator voice is not available. Please choose another one in the settings.",
        "ru": "Такого голоса диктора нет. Выберите другой в настройках.",
    },
    "revision_failed": {
        "en": "The script could not be rewritten this time; here it is as it was. Try another note, edit it "
              "yourself, or approve it.",
        "ru": "Не удалось переписать сценарий; вот он без изменений. Попробуйте другое пожелание, исправьте его "
              "сами или одобрите.",
    },
    "edit_empty": {"en": "That reply is empty.", "ru": "Ответ пустой."},
    "edit_bad_number": {
        "en": "There is no number {number}: the numbers go from 1 to {count}.",
        "ru": "Номера {number} нет: номера идут от 1 до {count}.",
    },
    "edit_not_understood": {
        "en": "I did not understand which ones to redo: reply with their numbers, e.g. “3, 17” or "
              "“3: a lighthouse at night”.",
        "ru": "Не понял, что переделать: ответьте номерами, например «3, 17» или «3: маяк ночью».",
    },
    "redo_not_ready_pictures": {
        "en": "Picture {number} is not made yet: you can redo it once you have seen it.",
        "ru": "Картинка {number} ещё не готова: переделать её можно, когда вы её увидите.",
    },
    "redo_not_ready_clips": {
        "en": "Clip {number} is not made yet: only the clips you have seen can be redone.",
        "ru": "Клип {number} ещё не готов: переделать можно только показанные клипы.",
    },
    "revision_limit": {
        "en": "This script has had its {limit} revisions: approve it or cancel.",
        "ru": "У сценария уже {limit} правок: одобрите его или отмените.",
    },
    "redo_limit": {
        "en": "Only {limit} pictures and clips can be redone per video ({left} left).",
        "ru": "В одном видео можно переделать не больше {limit} картинок и клипов (осталось {left}).",
    },
    "edit_cost_cap": {
        "en": "Redoing that would take this video over its ${cap:.2f} limit.",
        "ru": "Эта переделка выведет видео за лимит ${cap:.2f}.",
    },
    "edit_cost_cap_day": {
        "en": "Redoing that would take today's spending over the ${cap:.2f} daily limit.",
        "ru": "Эта переделка превысит дневной лимит расходов ${cap:.2f}.",
    },
    "cost_cap_job": {
        "en": "This video would cost about ${cost:.2f}, over the ${cap:.2f} limit per video.",
        "ru": "Это видео стоило бы около ${cost:.2f}, больше лимита ${cap:.2f} на одно видео.",
    },
    "cost_cap_day": {
        "en": "This video would take today's spending over the ${cap:.2f} daily limit. Please try again tomorrow.",
        "ru": "Это видео превысит дневной лимит расходов ${cap:.2f}. Попробуйте завтра.",
    },
    "rate_limited": {
        "en": "Too many new videos at once. Please try again in {wait} s.",
        "ru": "Слишком много новых видео подряд. Попробуйте через {wait} с.",
    },
    "job_active": {
        "en": "A video is already being made for you. Wait for it or send /cancel.",
        "ru": "Для вас уже делается видео. Дождитесь его или отправьте /cancel.",
    },
    "approval_timeout": {
        "en": "No answer for {minutes} minutes, so the job was cancelled and its files deleted.",
        "ru": "Ответа не было {minutes} мин., поэтому задача отменена, а её файлы удалены.",
    },
    "disk_full": {
        "en": "The server is out of room for new videos right now. Please try again later.",
        "ru": "На сервере сейчас нет места для новых видео. Попробуйте позже.",
    },
    "narration_paraphrased": {
        "en": "The narrator would not read the script word for word. Please try again, or edit that part.",
        "ru": "Диктор не смог прочитать сценарий слово в слово. Попробуйте ещё раз или измените этот фрагмент.",
    },
    "model_retired": {
        "en": "The service is being updated and cannot make videos right now. Please try again later.",
        "ru": "Сервис обновляется и сейчас не может делать видео. Попробуйте позже.",
    },
    "model_unknown": {
        "en": "The service is misconfigured and cannot make videos right now. Please try again later.",
        "ru": "Сервис настроен неверно и сейчас не может делать видео. Попробуйте позже.",
    },
    "cancelled": {
        "en": "Cancelled. The job's files were deleted.",
        "ru": "Отменено. Файлы задачи удалены.",
    },
    "user_blocked": {  # for the log and the operator: the user who blocked the bot is told nothing
        "en": "The bot was blocked in this chat, so the job was stopped.",
        "ru": "Бот заблокирован в этом чате, поэтому задача остановлена.",
    },
}


def message(code: str, language: str = "en", /, **params: object) -> str:
    """The message for ``code`` in ``language`` (English if missing), filled with ``params``."""
    table = ERROR_MESSAGES.get(code) or ERROR_MESSAGES["internal"]
    text = table.get(language) or table["en"]
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return (ERROR_MESSAGES.get(code.split("_")[0]) or ERROR_MESSAGES["failed"]).get(language, text)


def message_for(error: BaseException, language: str = "en") -> str:
    """The human message for any exception: ours by code, anything else as 'internal'."""
    if isinstance(error, StoryReelError):
        return message(error.code, language, **error.context)
    return message("internal", language)
