"""An offline script writer: a deterministic, visibly draft script in the prompt's language.

It writes no real content (that takes a language model); it gives the pipeline a script
of the right length, in Russian or English, that names the topic and says it is a draft,
so every later stage can be exercised and watched with no key and no network. Its look
names the topic; its highlights rank every segment by how much its picture describes.
A revision follows the note as far as templates can: "shorter" trims every segment,
"longer" adds to them, any other note is written into a new draft.
"""

from __future__ import annotations

import hashlib
import re

from ...errors import InputError
from ...models import Script, ScriptSegment
from ...splitting import sentences, split_script

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


_REVISED = {"en": "Revised as asked: {note}.", "ru": "Исправлено по просьбе: «{note}»."}

#: short sentences "longer" adds to a segment, the first that fits
_ADDITIONS = {
    "en": ["Every detail matters here.", "And there is more to see.", "Remember this moment.", "Look closer."],
    "ru": ["Здесь важна каждая деталь.", "И это ещё не всё.", "Запомните этот момент.", "Присмотритесь."],
}

_LOOK = "{topic}: the same recurring subject in every picture, draft illustration, one warm palette, soft light"

#: notes asking for less, or more, narration (any other note is written into a new draft)
_SHORTER = re.compile(r"\b(short|shorter|shorten|brief|briefer|concise|trim|коротк\w*|короче|покороче|"
                      r"сократ\w*|кратк\w*|кратче)\b", re.I)
_LONGER = re.compile(r"\b(long|longer|lengthen|expand|detailed|длинн\w*|подлиннее|дольше|подробн\w*|"
                     r"расширь)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?…][»\"')]*$")
_CONCRETE = re.compile(r"[^\W\d_]{4,}")


def spread_order(count: int) -> list[int]:
    """Every segment index once, ordered so that any first few are spread evenly over the
    video (each next one as far as it can be from those before it; ties: the earliest)."""
    order: list[int] = []
    distance = [count + 1] * count  # to the nearest index already chosen
    for _ in range(count):
        best = max(range(count), key=lambda i: (distance[i], -i))
        order.append(best)
        distance = [min(d, abs(i - best)) for i, d in enumerate(distance)]
    return order


def rank_highlights(segments: list[ScriptSegment]) -> list[int]:
    """Every segment index, the most concrete picture first: the image prompt with the
    most distinct words of four letters or more; ties go to an even spread."""
    spread = {index: rank for rank, index in enumerate(spread_order(len(segments)))}

    def concrete(seg: ScriptSegment) -> int:
        return len({w.lower() for w in _CONCRETE.findall(seg.image_prompt)})

    return [i for i, _ in sorted(enumerate(segments), key=lambda p: (-concrete(p[1]), spread[p[0]]))]


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
        return self._draft(prompt, language=language, segment_count=segment_count, segment_seconds=segment_seconds)

    def revise(self, script: Script, note: str, *, prompt: str, language: str, segment_count: int,
               segment_seconds: float) -> Script:
        """``script`` with ``note`` applied: "shorter" trims each segment's text, "longer" adds
        a short sentence where the pace allows, anything else rewrites the draft around the
        prompt and the note (which the new draft quotes). Same note, same result."""
        note = " ".join(note.split())
        if not note:
            raise InputError("the note on the script is empty")
        lang = language if language in _SENTENCES else "en"
        if _SHORTER.search(note):
            texts = [_shorter(s.text) for s in script.segments]
        elif _LONGER.search(note):
            room = int(segment_seconds * self.words_per_second * self.max_tempo)
            texts = [_longer(s.text, i, room, lang) for i, s in enumerate(script.segments)]
        else:
            return self._draft(prompt, language=language, segment_count=segment_count,
                               segment_seconds=segment_seconds, note=note, look=script.look)
        if len(texts) == segment_count:
            segments = [ScriptSegment(index=i, text=t, start=s.start, end=s.end, image_prompt=s.image_prompt,
                                      animation_prompt=s.animation_prompt)
                        for i, (s, t) in enumerate(zip(script.segments, texts))]
            revised = Script(language=lang, title=script.title, segments=segments)
        else:  # the video's length changed: the new text is split again
            revised = self._split(" ".join(t for t in texts if t), lang, segment_count, segment_seconds,
                                  script.title)
        if texts == [s.text for s in script.segments]:
            revised.warnings.append("the draft could not be made " + ("shorter" if _SHORTER.search(note)
                                                                      else "longer") + " offline")
        revised.look = script.look or _LOOK.format(topic=topic_of(prompt, lang))
        revised.highlights = rank_highlights(revised.segments)
        revised.draft = True
        return revised

    def _draft(self, prompt: str, *, language: str, segment_count: int, segment_seconds: float,
               note: str = "", look: str = "") -> Script:
        lang = language if language in _SENTENCES else "en"
        topic = topic_of(prompt, lang)
        # Russian cannot take the topic into a template without declining it: quote the
        # request as the user wrote it instead
        spoken_topic = topic if lang == "en" else " ".join(prompt.split()[:12]).strip(" .!?")
        # a little under the pace, so the draft voice never has to hurry
        budget = int(segment_count * segment_seconds * self.words_per_second * 0.85)
        pool = _SENTENCES[lang]
        seed = prompt if not note else f"{prompt}\n{note}"
        start = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(pool)
        opening = _OPENING[lang].format(topic=spoken_topic)
        if len(opening.split()) > budget:
            # a tiny video: say only that it is a draft, and as much of the topic as fits
            short_topic = " ".join(spoken_topic.split()[: max(1, budget - 1)])
            opening = _SHORT_OPENING[lang].format(topic=short_topic)
        parts = [opening]
        if note:  # a revision says what it was asked, whatever the length
            parts.append(_REVISED[lang].format(note=" ".join(note.split()[:16]).strip(" .!?")))
        count = sum(len(s.split()) for s in parts)
        i = 0
        while count < budget:
            sentence = pool[(start + i) % len(pool)].format(topic=spoken_topic)
            if count + len(sentence.split()) > budget and count > 0:
                break
            parts.append(sentence)
            count += len(sentence.split())
            i += 1
        script = self._split(" ".join(parts), lang, segment_count, segment_seconds,
                             topic[:1].upper() + topic[1:])
        script.look = look or _LOOK.format(topic=topic)
        script.highlights = rank_highlights(script.segments)
        script.draft = True
        return script

    def _split(self, text: str, language: str, segment_count: int, segment_seconds: float, title: str) -> Script:
        return split_script(
            text,
            segment_count=segment_count,
            segment_seconds=segment_seconds,
            language=language,
            title=title,
            words_per_second=self.words_per_second,
            max_tempo=self.max_tempo,
        )


def _shorter(text: str) -> str:
    """About three fifths of ``text``: whole sentences when they fit, else its first words."""
    words = text.split()
    if len(words) < 2:
        return text
    target = max(1, len(words) * 3 // 5)
    kept: list[str] = []
    for sentence in sentences(text):
        if len(" ".join([*kept, sentence]).split()) > target:
            break
        kept.append(sentence)
    if kept:
        return " ".join(kept)
    cut = " ".join(words[:target]).rstrip(",;:—–- ")
    cut = cut if re.search(r"[.!?…]$", cut) else f"{cut}…"
    return cut + "»" * (cut.count("«") - cut.count("»"))


def _longer(text: str, index: int, room: int, language: str) -> str:
    """``text`` and one short sentence more, the first (from ``index`` on) that fits in ``room``
    words; a segment that ends mid-sentence is left as it is."""
    if text and not _SENTENCE_END.search(text):
        return text
    free = room - len(text.split())
    additions = _ADDITIONS[language]
    for k in range(len(additions)):
        addition = additions[(index + k) % len(additions)]
        if len(addition.split()) <= free:
            return f"{text} {addition}".strip()
    return text
