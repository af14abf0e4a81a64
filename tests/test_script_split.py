"""Splitting a script into timed segments: properties over many scripts."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from storyreel.splitting import chunk_text, split_script

EN_WORDS = ["coffee", "began", "in", "Ethiopia,", "where", "goats", "found", "berries.", "Monks", "brewed",
            "it;", "soon", "—", "the", "drink", "spread!", "Why?", "people", "loved", "it…"]
RU_WORDS = ["Кофе", "появился", "в", "Эфиопии,", "где", "козы", "нашли", "ягоды.", "Монахи", "варили",
            "его;", "вскоре", "—", "напиток", "распространился!", "Почему?", "люди", "полюбили", "его…"]

scripts = st.one_of(
    st.lists(st.sampled_from(EN_WORDS), min_size=0, max_size=300),
    st.lists(st.sampled_from(RU_WORDS), min_size=0, max_size=300),
    st.lists(st.text(min_size=1, max_size=12).filter(lambda w: w.strip() == w and " " not in w and w.split() == [w]),
             min_size=0, max_size=80),
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(text=scripts, count=st.integers(1, 60), seconds=st.sampled_from([1, 2.5, 5, 7]))
def test_segments_are_contiguous_cover_the_video_and_keep_every_word(text, count, seconds):
    script = split_script(text, segment_count=count, segment_seconds=seconds, language="en")
    segs = script.segments
    assert len(segs) == count
    assert [s.index for s in segs] == list(range(count))
    assert segs[0].start == 0
    assert abs(segs[-1].end - count * seconds) < 1e-6
    for a, b in zip(segs, segs[1:]):
        assert a.end == b.start
    for s in segs:
        assert abs(s.duration - seconds) < 1e-6
        assert s.image_prompt and s.animation_prompt
    # no word lost, added or reordered
    assert " ".join(s.text for s in segs).split() == text.split()
    words = len(text.split())
    empty = sum(1 for s in segs if not s.text)
    if words >= count:
        assert empty == 0
    else:
        assert empty == count - words
        assert any("pause" in w for w in script.warnings)


def test_boundaries_prefer_sentence_ends_ru_and_en():
    en = ("Coffee began in Ethiopia. Goats found the berries first. Monks brewed a drink from them. "
          "Traders carried it to Yemen. Then it reached the whole world.")
    ru = ("Кофе появился в Эфиопии. Первыми ягоды нашли козы. Монахи варили из них напиток. "
          "Торговцы привезли его в Йемен. Потом он покорил весь мир.")
    for text in (en, ru):
        script = split_script(text, segment_count=5, segment_seconds=5, language="en")
        assert all(s.text.endswith(".") for s in script.segments), [s.text for s in script.segments]


def test_even_pace_across_segments():
    text = " ".join(f"word{i}," if i % 7 == 6 else f"word{i}" for i in range(480))
    script = split_script(text, segment_count=48, segment_seconds=5, language="en")
    counts = [len(s.text.split()) for s in script.segments]
    assert min(counts) >= 6 and max(counts) <= 14


def test_too_long_script_keeps_every_word_and_says_so():
    text = "This sentence is long enough to crowd any five second segment badly. " * 30
    script = split_script(text, segment_count=4, segment_seconds=5, language="en")
    assert " ".join(s.text for s in script.segments).split() == text.split()
    assert any("sped up" in w for w in script.warnings)


def test_empty_script_gives_pauses_and_a_warning():
    script = split_script("", segment_count=3, segment_seconds=5, language="ru")
    assert [s.text for s in script.segments] == ["", "", ""]
    assert script.warnings


@settings(max_examples=100, deadline=None)
@given(text=scripts, limit=st.integers(5, 200))
def test_chunks_respect_the_limit_and_keep_the_text(text, limit):
    chunks = chunk_text(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())
