"""Splitting a narration script into N timed segments of S seconds.

The split is a small dynamic programme over the script's words: every segment should
hold about the same number of words (so the narration keeps an even pace), and a
boundary costs less after a sentence than after a clause, and least of all never in
the middle of a phrase. Words are never dropped or reordered: joining the segments'
texts gives the script back, word for word. A script with fewer words than segments
gets pause segments (empty text), and the warnings say so; a script too long to narrate
at a natural pace is kept whole and the warnings say that too.
"""

from __future__ import annotations

import math
import re

from .models import Script, ScriptSegment

_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”)\]]*$")
_CLAUSE_END = re.compile(r"[,;:]+[\"'»”)\]]*$")
_DASHES = {"—", "–", "-"}

#: cost of a boundary after a sentence, after a clause, inside a phrase
_BREAK_COST = {"sentence": 0.0, "clause": 0.6, "word": 2.5}
#: weight of a segment's deviation from the even share of words
_BALANCE_WEIGHT = 4.0


def split_script(
    text: str,
    *,
    segment_count: int,
    segment_seconds: float,
    language: str,
    title: str = "",
    words_per_second: float = 2.3,
    max_tempo: float = 1.35,
) -> Script:
    """Split ``text`` into ``segment_count`` contiguous segments covering the whole video."""
    if segment_count < 1 or segment_seconds <= 0:
        raise ValueError("segment_count must be ≥ 1 and segment_seconds > 0")
    words = text.split()
    groups = _partition(words, segment_count)
    warnings = _warnings(words, groups, segment_seconds, words_per_second, max_tempo)
    segments = []
    for index, (lo, hi) in enumerate(groups):
        seg_text = " ".join(words[lo:hi])
        segments.append(
            ScriptSegment(
                index=index,
                text=seg_text,
                start=_time(index, segment_seconds),
                end=_time(index + 1, segment_seconds),
                image_prompt=image_prompt(seg_text or _context(words, lo), title),
                animation_prompt=animation_prompt(index),
            )
        )
    return Script(language=language, title=title, segments=segments, warnings=warnings)


def _time(index: int, seconds: float) -> float:
    return round(index * seconds, 6)


def _break_kind(words: list[str], i: int) -> str:
    """How strong the boundary after word ``i`` is."""
    word = words[i]
    if _SENTENCE_END.search(word):
        return "sentence"
    if _CLAUSE_END.search(word) or word in _DASHES:
        return "clause"
    if i + 1 < len(words) and words[i + 1] in _DASHES:
        return "clause"
    return "word"


def _partition(words: list[str], n: int) -> list[tuple[int, int]]:
    """Split ``words`` into ``n`` contiguous (start, end) ranges at the least total cost."""
    total = len(words)
    if total == 0:
        return [(0, 0)] * n
    share = total / n
    min_len = 1 if total >= n else 0
    max_len = max(int(math.ceil(share * 3)), int(math.ceil(share)) + 8)
    break_cost = [_BREAK_COST[_break_kind(words, i)] for i in range(total)]

    inf = float("inf")
    # best[g][i]: least cost of putting the first i words into g segments
    best = [[inf] * (total + 1) for _ in range(n + 1)]
    back = [[0] * (total + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for g in range(1, n + 1):
        remaining = n - g
        lo_i = g * min_len
        hi_i = total - remaining * min_len
        prev_row, row, brow = best[g - 1], best[g], back[g]
        for i in range(lo_i, hi_i + 1):
            boundary = break_cost[i - 1] if 0 < i < total else 0.0
            best_cost, best_j = inf, 0
            for j in range(max(0, i - max_len), i - min_len + 1):
                base = prev_row[j]
                if base == inf:
                    continue
                dev = (i - j - share) / share
                cost = base + _BALANCE_WEIGHT * dev * dev + boundary
                if cost < best_cost:
                    best_cost, best_j = cost, j
            row[i], brow[i] = best_cost, best_j
    ranges = []
    i = total
    for g in range(n, 0, -1):
        j = back[g][i]
        ranges.append((j, i))
        i = j
    ranges.reverse()
    return ranges


def _warnings(words, groups, seconds, wps, max_tempo) -> list[str]:
    notes = []
    empty = sum(1 for lo, hi in groups if hi == lo)
    if empty:
        notes.append(
            f"the script has {len(words)} words for {len(groups)} segments: "
            f"{empty} segment(s) are silent pauses"
        )
    capacity = seconds * wps
    crowded = [i for i, (lo, hi) in enumerate(groups) if hi - lo > capacity * max_tempo]
    if crowded:
        notes.append(
            f"{len(crowded)} segment(s) hold more words than {seconds:g} s can narrate at a natural "
            f"pace (about {capacity:.0f} words); their narration will be sped up or run on"
        )
    elif words and len(words) < 0.5 * capacity * len(groups):
        covered = len(words) / (capacity * len(groups))
        notes.append(f"the script is short: narration fills about {covered:.0%} of the video")
    return notes


def _context(words: list[str], position: int) -> str:
    """Nearby words, so a pause segment still gets a picture about the story."""
    return " ".join(words[max(0, position - 8): position + 8])


def image_prompt(text: str, title: str = "") -> str:
    """A picture prompt for a segment whose narration is ``text``."""
    subject = text.strip() or title.strip() or "an establishing shot"
    lead = f"{title.strip()}. " if title.strip() else ""
    return f"{lead}Cinematic illustration of: {subject}. Wide shot, rich detail, soft light, no text."


_MOVES = ("slow push-in", "slow pull-out", "gentle pan left to right", "gentle pan right to left")


def animation_prompt(index: int) -> str:
    """A camera-motion prompt; neighbouring segments move differently."""
    return f"Smooth {_MOVES[index % len(_MOVES)]}, subtle natural motion in the scene, steady camera."


def sentences(text: str) -> list[str]:
    """The text's sentences, their punctuation kept (used to cut long narration)."""
    parts = re.split(r"(?<=[.!?…])\s+", text.strip())
    return [p for p in parts if p]


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_chars``, at sentence ends where possible,
    else at word boundaries; a single word longer than ``max_chars`` is cut hard."""
    chunks: list[str] = []
    current = ""
    for sentence in sentences(text):
        pieces = [sentence] if len(sentence) <= max_chars else _cut_words(sentence, max_chars)
        for piece in pieces:
            candidate = f"{current} {piece}".strip()
            if len(candidate) <= max_chars:
                current = candidate
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _cut_words(sentence: str, max_chars: int) -> list[str]:
    out, current = [], ""
    for word in sentence.split():
        while len(word) > max_chars:
            if current:
                out.append(current)
                current = ""
            out.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{current} {word}".strip()
        if len(candidate) <= max_chars:
            current = candidate
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out
