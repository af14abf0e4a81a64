"""The script's look and highlights, and revising a script from a person's note: the
OpenAI writer through the real ``openai`` SDK against the loopback fake, and the
offline draft writer."""

from __future__ import annotations

import json

import openai
import pytest

from storyreel.errors import InputError, ProviderRejected
from storyreel.providers.base import ScriptWriter, metered
from storyreel.providers.local.script_writer import DraftScriptWriter, rank_highlights, spread_order
from storyreel.providers.openai_common import make_openai_client
from storyreel.providers.openai_script import (
    OpenAIScriptWriter, salvage_highlights, script_json, script_schema,
)
from storyreel.settings import Settings
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

PROMPT = "A video about the Moscow metro"
RU_PROMPT = "Сделай видео о том, как строили московское метро"
#: the fake's highlights for 14 segments: every third segment first (numbers 3, 6, 9, 12), from 0
FAKE_HIGHLIGHTS_14 = [2, 5, 8, 11, 0, 1, 3, 4, 6, 7, 9, 10]


@pytest.fixture
def fake(openai_server):
    return openai_server


def writer(fake: FakeOpenAI, **overrides) -> OpenAIScriptWriter:
    values = dict(openai_api_key=DEFAULT_KEY, openai_base_url=f"{fake.url}/v1", openai_max_retries=0,
                  openai_timeout=5.0)
    values.update(overrides)
    settings = Settings(_env_file=None, **values)
    return OpenAIScriptWriter(make_openai_client(settings), settings)


def request(fake: FakeOpenAI, api: str, n: int) -> dict:
    path = "/v1/responses" if api == "responses" else "/v1/chat/completions"
    return fake.calls_to("POST", path)[n].json()


def conversation(body: dict) -> list[dict]:
    return body["input"] if "input" in body else [m for m in body["messages"] if m["role"] != "system"]


def instructions(body: dict) -> str:
    return body["instructions"] if "instructions" in body else body["messages"][0]["content"]


# ---- write: one look, the highlights ---------------------------------------------------
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_write_returns_the_look_and_the_highlights(fake, api):
    script = writer(fake, openai_script_api=api).write(PROMPT, language="en", segment_count=14,
                                                       segment_seconds=5)
    body = request(fake, api, 0)
    schema = script_schema(14)
    assert schema["properties"]["highlights"]["minItems"] == 12
    assert schema["properties"]["highlights"]["items"] == {"type": "integer", "minimum": 1, "maximum": 14}
    told = instructions(body)
    assert "look" in told and "consistent with it" in told and "at least 12" in told
    assert "current script" not in told  # a first script is no revision

    assert script.look.startswith("The Moscow metro") and len(script.look) <= 300
    assert script.highlights == FAKE_HIGHLIGHTS_14
    assert script.warnings == []
    assert len(script.segments) == 14


def test_a_short_video_marks_every_segment(fake):
    script = writer(fake).write(PROMPT, language="en", segment_count=4, segment_seconds=5)
    assert sorted(script.highlights) == [0, 1, 2, 3]
    assert script_schema(4)["properties"]["highlights"]["minItems"] == 4


def test_bad_highlights_once_are_repaired(fake):
    fake.fault("bad_highlights", times=1)
    with metered() as usage:
        script = writer(fake).write(PROMPT, language="en", segment_count=14, segment_seconds=5)
    assert fake.count("responses") == 2
    repair = conversation(request(fake, "responses", 1))[-1]["content"]
    assert "outside 1..14: [0, 17]" in repair and "repeats [1]" in repair and "at least 12" in repair
    assert script.highlights == FAKE_HIGHLIGHTS_14 and script.warnings == []
    assert sum(1 for u in usage if u.unit == "input_token") == 2  # the repair is paid for too


def test_bad_highlights_after_the_repair_fall_back_to_an_even_spread(fake, captured_logs):
    fake.fault("bad_highlights", times=2)
    script = writer(fake).write(PROMPT, language="en", segment_count=14, segment_seconds=5)
    assert fake.count("responses") == 2  # one repair, then no failure: the job goes on
    # the one usable number (1) is kept, the other segments follow spread over the video
    assert script.highlights == spread_order(14) and script.highlights[:3] == [0, 13, 6]
    assert sorted(script.highlights) == list(range(14))
    assert any("spread evenly" in w for w in script.warnings)
    assert "script_fallback" in captured_logs.getvalue()


def test_salvaged_highlights_keep_the_usable_numbers_first():
    assert salvage_highlights([5, 5, 0, 99, "3", True, 2], 6) == [4, 1, 0, 5, 2, 3]
    assert salvage_highlights(None, 3) == spread_order(3) == [0, 2, 1]


def test_a_repair_that_breaks_a_usable_script_keeps_the_first(fake):
    fake.fault("bad_highlights", times=1)
    fake.fault("wrong_count", times=1)
    script = writer(fake).write(PROMPT, language="en", segment_count=6, segment_seconds=5)
    assert fake.count("responses") == 2
    assert len(script.segments) == 6
    assert script.highlights == spread_order(6) and script.warnings


def test_a_broken_script_is_still_refused_after_one_repair(fake):
    fake.fault("wrong_count", times=2)
    with pytest.raises(ProviderRejected) as caught:
        writer(fake).write(PROMPT, language="en", segment_count=6, segment_seconds=5)
    assert caught.value.code == "script_invalid"


def test_the_fake_refuses_a_strict_schema_that_leaves_a_property_out(fake):
    """What OpenAI says when a strict schema does not require every property."""
    client = writer(fake).client
    schema = script_schema(3)
    schema["required"] = ["title", "segments", "highlights"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-6-luna", input="owls", text={"format": {
            "type": "json_schema", "name": "storyreel_script", "schema": schema, "strict": True}})
    assert caught.value.code == "invalid_json_schema"
    assert "Missing 'look'" in str(caught.value)
    schema = script_schema(3)
    del schema["properties"]["segments"]["items"]["additionalProperties"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-6-luna", messages=[{"role": "user", "content": "owls"}],
                                       response_format={"type": "json_schema", "json_schema": {
                                           "name": "storyreel_script", "schema": schema, "strict": True}})
    assert "context=('properties', 'segments', 'items'), 'additionalProperties'" in str(caught.value)


# ---- revise ----------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_revise_sends_the_script_and_the_note_and_is_billed(fake, api):
    script_writer = writer(fake, openai_script_api=api)
    script = script_writer.write(PROMPT, language="en", segment_count=6, segment_seconds=5)
    with metered() as usage:
        revised = script_writer.revise(script, "shorter", prompt=PROMPT, language="en", segment_count=6,
                                       segment_seconds=5)

    body = request(fake, api, 1)
    messages = conversation(body)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == PROMPT and messages[2]["content"] == "shorter"
    shown = json.loads(messages[1]["content"])  # the current script, as the model writes one
    assert shown["look"] == script.look and shown["highlights"] == [i + 1 for i in script.highlights]
    assert [s["text"] for s in shown["segments"]] == [s.text for s in script.segments]
    assert [s["image_prompt"] for s in shown["segments"]] == [s.image_prompt for s in script.segments]
    assert "current script" in instructions(body) and "exactly 6 segments" in instructions(body)

    assert len(revised.segments) == 6 and not revised.draft
    for old, new in zip(script.segments, revised.segments):
        assert len(new.text.split()) < len(old.text.split())
        assert (new.index, new.start, new.end) == (old.index, old.start, old.end)
    assert revised.look == script.look and revised.title == script.title
    assert sorted(revised.highlights) == list(range(6))
    # priced as a write is: input and output tokens on the model asked for
    assert {u.unit for u in usage} == {"input_token", "output_token"}
    assert all(u.model == "gpt-6-luna" and u.units > 0 for u in usage)


def test_revise_applies_a_topic_note(fake):
    script_writer = writer(fake)
    script = script_writer.write(RU_PROMPT, language="ru", segment_count=4, segment_seconds=5)
    revised = script_writer.revise(script, "больше про XVIII век", prompt=RU_PROMPT, language="ru",
                                   segment_count=4, segment_seconds=5)
    assert all(s.text.startswith("Больше про XVIII век") for s in revised.segments)
    assert "Russian" in instructions(request(fake, "responses", 1))


def test_a_revision_is_validated_and_repaired_like_a_script(fake):
    script_writer = writer(fake)
    script = script_writer.write(PROMPT, language="en", segment_count=5, segment_seconds=5)
    fake.fault("wrong_count", times=1)
    revised = script_writer.revise(script, "funnier", prompt=PROMPT, language="en", segment_count=5,
                                   segment_seconds=5)
    assert len(revised.segments) == 5 and fake.count("responses") == 3
    repair = conversation(request(fake, "responses", 2))
    assert [m["role"] for m in repair] == ["user", "assistant", "user", "assistant", "user"]
    assert "expected exactly 5 segments, got 6" in repair[-1]["content"]
    assert all(s.text.startswith("Funnier") for s in revised.segments)

    fake.fault("wrong_count", times=2)
    with pytest.raises(ProviderRejected) as caught:
        script_writer.revise(script, "funnier", prompt=PROMPT, language="en", segment_count=5, segment_seconds=5)
    assert caught.value.code == "script_invalid"


def test_a_blank_note_is_refused_without_a_call(fake):
    script_writer = writer(fake)
    script = script_writer.write(PROMPT, language="en", segment_count=3, segment_seconds=5)
    with pytest.raises(InputError):
        script_writer.revise(script, "  \n", prompt=PROMPT, language="en", segment_count=3, segment_seconds=5)
    assert fake.count("responses") == 1


def test_script_json_numbers_highlights_from_one():
    script = DraftScriptWriter().write(PROMPT, language="en", segment_count=3, segment_seconds=5)
    script.highlights = [2, 2, 7, 0]  # a repeat and one out of range are left out
    shown = json.loads(script_json(script))
    assert shown["highlights"] == [3, 1]
    assert list(shown) == ["title", "look", "segments", "highlights"]


# ---- the offline draft writer ---------------------------------------------------------
def draft(prompt: str = PROMPT, language: str = "en", count: int = 8, seconds: float = 5):
    return DraftScriptWriter().write(prompt, language=language, segment_count=count, segment_seconds=seconds)


def test_offline_look_and_highlights_are_deterministic():
    assert isinstance(DraftScriptWriter(), ScriptWriter)
    first, second = draft(), draft()
    assert first.look == second.look and "the Moscow metro" in first.look
    assert first.highlights == second.highlights
    assert sorted(first.highlights) == list(range(8))  # every segment is ranked
    assert first.highlights == rank_highlights(first.segments)
    words = [len(set(first.segments[i].image_prompt.split())) for i in first.highlights]
    assert words[0] >= words[-1]  # the most described picture first


def test_offline_revise_shorter_shortens_every_segment():
    script = draft()
    revised = DraftScriptWriter().revise(script, "Shorter, please", prompt=PROMPT, language="en",
                                         segment_count=8, segment_seconds=5)
    assert revised.draft and len(revised.segments) == 8
    for old, new in zip(script.segments, revised.segments):
        assert (new.start, new.end) == (old.start, old.end)
        if len(old.text.split()) > 1:
            assert len(new.text.split()) < len(old.text.split())
    assert len(revised.text.split()) < len(script.text.split())
    assert revised.look == script.look
    again = DraftScriptWriter().revise(script, "Shorter, please", prompt=PROMPT, language="en",
                                       segment_count=8, segment_seconds=5)
    assert again.to_dict() == revised.to_dict()


def test_offline_revise_shorter_in_russian():
    script = draft(RU_PROMPT, "ru", 4)
    revised = DraftScriptWriter().revise(script, "короче", prompt=RU_PROMPT, language="ru", segment_count=4,
                                         segment_seconds=5)
    assert len(revised.text.split()) < len(script.text.split())
    assert revised.text.count("«") == revised.text.count("»")


def test_offline_revise_longer_adds():
    script = draft()
    revised = DraftScriptWriter().revise(script, "make it longer", prompt=PROMPT, language="en",
                                         segment_count=8, segment_seconds=5)
    assert len(revised.text.split()) > len(script.text.split())
    assert len(revised.segments) == 8


def test_offline_revise_with_a_topic_note_mentions_it():
    script = draft()
    note = "more about the 18th century"
    revised = DraftScriptWriter().revise(script, note, prompt=PROMPT, language="en", segment_count=8,
                                         segment_seconds=5)
    assert note in revised.text and note not in script.text
    assert len(revised.segments) == 8 and revised.draft
    assert revised.look == script.look and sorted(revised.highlights) == list(range(8))
    ru = DraftScriptWriter().revise(draft(RU_PROMPT, "ru", 4), "больше про XVIII век", prompt=RU_PROMPT,
                                    language="ru", segment_count=4, segment_seconds=5)
    assert "«больше про XVIII век»" in ru.text


def test_offline_revise_keeps_the_segment_count_asked_for():
    script = draft(count=6)
    revised = DraftScriptWriter().revise(script, "shorter", prompt=PROMPT, language="en", segment_count=4,
                                         segment_seconds=5)
    assert len(revised.segments) == 4
    assert revised.segments[-1].end == 20


def test_offline_blank_note_is_refused():
    with pytest.raises(InputError):
        DraftScriptWriter().revise(draft(), " ", prompt=PROMPT, language="en", segment_count=8, segment_seconds=5)


def test_spread_order_spreads_every_prefix():
    assert spread_order(0) == [] and spread_order(1) == [0]
    order = spread_order(48)
    assert sorted(order) == list(range(48))
    first = sorted(order[:12])
    assert max(b - a for a, b in zip(first, first[1:])) <= 6
