"""An offline script writer: a deterministic, visibly draft script in the prompt's language.

It writes no real content (that takes a language model); it gives the pipeline a script
of the right length, in Russian or English, that names the topic and says it is a draft,
so every later stage can be exercised and watched with no key and no network.
"""

from __future__ import annotations

import hashlib
import re

from ...models import Script
from ...splitting import split_script

_LEADS = {
    "en": re.compile(r"^(please\s+)?((make|create|generate)\s+)?(me\s+)?(a\s+)?(short\s+)?"
                     r"(video|film|clip|story)\s+(about|on|of)\s+", re.I),
    "ru": re.compile(r"^(пожалуйста,?\s+)?((сделай|создай|сними|нужно)\s+)?(мне\s+)?"
                     r"(короткое\s+)?(видео|ролик|фильм|историю)\s+(о|об|обо|про|на\s+тему)\s+", re.I),
}

_OPENING = {
    "en": "This is a draft video about {topic}, made offline by StoryReel.",
    "ru": "Это черновик StoryReel, сделанный без подключения к сети, по запросу «{topic}».",
}

_SHORT_OPENING = {"en": "Draft: {topic}.", "ru": "Черновик: «{topic}»."}

_SENTENCES = {
    "en": [
        "Let us look at {topic} step by step.",
        "Every story starts with a simple question.",
        "Where did it begin, and who noticed it first?",
        "At first only a few people cared about it.",
        "Then, slowly, more and more joined them.",
        "Ideas travelled along roads, rivers and sea routes.",
        "Each place added something of its own.",
        "Some changes were small, others turned everything around.",
        "Here is a moment worth remembering about {topic}.",
        "People argued, experimented and tried again.",
        "Not every attempt worked, and that is part of the story too.",
        "Over the years the details became clearer.",
        "Today we can see the whole path at a glance.",
        "What looks obvious now was once a bold guess.",
        "And the story of {topic} is still being written.",
        "In the final version, a language model will write this script for you.",
    ],
    "ru": [
        "Давайте разберём эту тему шаг за шагом.",
        "Любая история начинается с простого вопроса.",
        "Где всё началось и кто заметил это первым?",
        "Сначала этим интересовались лишь немногие.",
        "Потом, понемногу, к ним присоединялись другие.",
        "Идеи путешествовали по дорогам, рекам и морям.",
        "Каждое место добавляло что-то своё.",
        "Одни перемены были малыми, другие меняли всё.",
        "Вот момент, который стоит запомнить.",
        "Люди спорили, пробовали и начинали снова.",
        "Не каждая попытка удавалась, и это тоже часть истории.",
        "С годами подробности становились яснее.",
        "Сегодня весь путь виден как на ладони.",
        "То, что кажется очевидным, когда-то было смелой догадкой.",
        "А эта история всё ещё продолжается.",
        "В полной версии сценарий для вас напишет языковая модель.",
    ],
}


def topic_of(prompt: str, language: str) -> str:
    """The prompt without "make a video about…", trimmed to a short phrase."""
    text = " ".join(prompt.split()).strip(" .!?")
    lead = _LEADS.get(language)
    if lead:
        text = lead.sub("", text, count=1)
    words = text.split()
    return " ".join(words[:12]) if words else prompt.strip()


class DraftScriptWriter:
    """Implements ``ScriptWriter`` with templates; same prompt, same script."""

    name = "local"

    def __init__(self, words_per_second: float = 2.3, max_tempo: float = 1.35) -> None:
        self.words_per_second = words_per_second
        self.max_tempo = max_tempo

    def write(self, prompt: str, *, language: str, segment_count: int, segment_seconds: float) -> Script:
        lang = language if language in _SENTENCES else "en"
        topic = topic_of(prompt, lang)
        # Russian cannot take the topic into a template without declining it: quote the
        # request as the user wrote it instead
        spoken_topic = topic if lang == "en" else " ".join(prompt.split()[:12]).strip(" .!?")
        # a little under the pace, so the draft voice never has to hurry
        budget = int(segment_count * segment_seconds * self.words_per_second * 0.85)
        pool = _SENTENCES[lang]
        start = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % len(pool)
        opening = _OPENING[lang].format(topic=spoken_topic)
        if len(opening.split()) > budget:
            # a tiny video: say only that it is a draft, and as much of the topic as fits
            short_topic = " ".join(spoken_topic.split()[: max(1, budget - 1)])
            opening = _SHORT_OPENING[lang].format(topic=short_topic)
        sentences = [opening]
        count = len(sentences[0].split())
        i = 0
        while count < budget:
            sentence = pool[(start + i) % len(pool)].format(topic=spoken_topic)
            if count + len(sentence.split()) > budget and count > 0:
                break
            sentences.append(sentence)
            count += len(sentence.split())
            i += 1
        script = split_script(
            " ".join(sentences),
            segment_count=segment_count,
            segment_seconds=segment_seconds,
            language=lang,
            title=topic[:1].upper() + topic[1:],
            words_per_second=self.words_per_second,
            max_tempo=self.max_tempo,
        )
        script.draft = True
        return script
