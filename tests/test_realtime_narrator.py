"""The Realtime narrator, driven through the real ``openai`` SDK against the loopback fake.

Nothing is patched: ``client.realtime.connect`` opens a real WebSocket (``websockets``) to
``FakeOpenAI`` on 127.0.0.1, which speaks the Realtime API's events.
"""

from __future__ import annotations

import io
import json
import threading
import time
import typing

import openai
import pytest
from websockets.sync.client import connect as ws_connect

from storyreel.errors import (
    InputError, PermanentError, ProviderFailed, ProviderRejected, ProviderUnavailable, QuotaExceeded,
)
from storyreel.media.probe import probe
from storyreel.messages import message_for
from storyreel.providers.base import Narrator, metered
from storyreel.providers.openai_common import make_openai_client
from storyreel.providers.openai_realtime import OpenAIRealtimeNarrator, word_diff
from storyreel.settings import Settings
from tests.fakes.openai_realtime import AUDIO_TOKENS_PER_SECOND, REALTIME_VOICES, client_events, spoken
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

EN = "Long ago the idea was only a dream of a few curious minds."
RU = "Давным-давно это была лишь мечта немногих любопытных людей, и они спорили."
MODEL = "gpt-realtime-2.1-mini"


@pytest.fixture
def fake(openai_server):
    return openai_server


def make_settings(fake: FakeOpenAI, **overrides) -> Settings:
    values = dict(openai_api_key=DEFAULT_KEY, openai_base_url=f"{fake.url}/v1", openai_timeout=5.0,
                  openai_tts_model=MODEL, openai_tts_voice="marin", openai_tts_style="calm documentary narrator")
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def narrator(fake):
    settings = make_settings(fake)
    with OpenAIRealtimeNarrator(make_openai_client(settings), settings) as made:
        yield made


def other_narrator(fake, **overrides) -> OpenAIRealtimeNarrator:
    settings = make_settings(fake, **overrides)
    return OpenAIRealtimeNarrator(make_openai_client(settings), settings)


def events(stream: io.StringIO, name: str) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == name]


def units(used, unit: str) -> list[float]:
    return [u.units for u in used if u.unit == unit]


def wait_for(condition, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# ---- one piece -------------------------------------------------------------------------
@pytest.mark.parametrize(("language", "text", "name"), [("en", EN, "English"), ("ru", RU, "Russian")])
def test_a_piece_becomes_a_wav_of_its_length_and_is_priced(fake, narrator, tmp_path, language, text, name):
    assert isinstance(narrator, Narrator) and narrator.name == "openai" and narrator.model == MODEL
    with metered() as used:
        path = narrator.speak(text, tmp_path / "000.wav", language=language)

    info = probe(path)
    seconds = round(len(text) / fake.chars_per_second, 2)
    assert (info.audio_codec, info.sample_rate, info.channels) == ("pcm_s16le", 24000, 1)
    assert info.duration == pytest.approx(seconds, abs=0.01)
    assert {u.model for u in used} == {MODEL}
    assert units(used, "audio_output_token") == [round(seconds * AUDIO_TOKENS_PER_SECOND)]
    assert units(used, "input_token")[0] > len(text) / 4 and units(used, "output_token")[0] > 0

    update = client_events(fake, "session.update")[0]["session"]
    assert update["output_modalities"] == ["audio"]
    assert update["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}
    assert update["audio"]["input"]["turn_detection"] is None
    asked = client_events(fake, "response.create")[0]["response"]
    assert asked["conversation"] == "none" and asked["output_modalities"] == ["audio"]
    assert asked["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]
    assert name in asked["instructions"] and "word for word" in asked["instructions"]
    assert "calm documentary narrator" in asked["instructions"]


def test_blank_text_is_a_short_silence_without_a_call(fake, narrator, tmp_path):
    path = narrator.speak("   ", tmp_path / "001.wav", language="en")
    assert probe(path).duration == pytest.approx(0.1, abs=0.01)
    assert fake.realtime_connections == 0 and fake.count("realtime") == 0


def test_text_over_the_limit_is_refused_before_any_call(fake, narrator, tmp_path):
    with pytest.raises(InputError) as caught:
        narrator.speak("word " * 500, tmp_path / "x.wav", language="en")
    assert caught.value.code == "narration_too_long" and fake.realtime_connections == 0


def test_the_call_is_logged_without_the_key(fake, narrator, tmp_path, captured_logs):
    narrator.speak(EN, tmp_path / "000.wav", language="en")
    [call] = events(captured_logs, "openai_call")
    assert call["endpoint"] == "realtime" and call["model"] == MODEL and call["chars"] == len(EN)
    assert call["audio_seconds"] == pytest.approx(len(EN) / fake.chars_per_second, abs=0.01)
    assert call["audio_out"] > 0 and call["text_in"] > 0 and call["responses"] == 1 and call["word_diff"] == 0
    assert DEFAULT_KEY not in captured_logs.getvalue()


# ---- connections -----------------------------------------------------------------------
def test_one_connection_serves_pieces_in_turn(fake, narrator, tmp_path):
    for i in range(4):
        narrator.speak(f"{EN} Part {i}.", tmp_path / f"{i:03d}.wav", language="en")
    assert fake.realtime_connections == 1 and narrator.connections_opened == 1
    assert fake.count("realtime") == 4
    assert len(client_events(fake, "session.update")) == 1


def test_threads_at_once_use_a_connection_each_never_more(fake, narrator, tmp_path):
    fake.realtime_latency = 0.15  # long enough that the threads overlap
    threads, errors, start = 4, [], threading.Barrier(4)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(3):
                narrator.speak(EN, tmp_path / f"{t}_{i}.wav", language="en")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    assert not errors
    assert 1 < fake.realtime_connections <= threads and fake.realtime_peak <= threads
    assert fake.count("realtime") == threads * 3
    assert all(probe(p).duration > 3 for p in tmp_path.glob("*.wav"))


def test_close_closes_the_pooled_connections(fake, narrator, tmp_path):
    narrator.speak(EN, tmp_path / "a.wav", language="en")
    assert fake.count("realtime_open") == 1
    narrator.close()
    assert wait_for(lambda: fake.count("realtime_open") == 0)
    narrator.speak(EN, tmp_path / "b.wav", language="en")  # still usable: a new connection
    assert fake.realtime_connections == 2


# ---- voice and style, chosen per call ---------------------------------------------------
def test_the_voices_are_the_realtime_ones_the_configured_first(fake):
    from openai.types.realtime import realtime_audio_config_output_param as sdk

    listed = [v for arg in typing.get_args(sdk.Voice) if typing.get_origin(arg) is typing.Literal
              for v in typing.get_args(arg)]
    with other_narrator(fake, openai_tts_voice="cedar") as narrator:
        assert narrator.voices[0] == "cedar" and sorted(narrator.voices) == sorted(listed) == sorted(REALTIME_VOICES)
    with other_narrator(fake, openai_tts_voice="nova") as narrator:  # not a realtime voice: not offered
        assert "nova" not in narrator.voices and sorted(narrator.voices) == sorted(REALTIME_VOICES)


def test_two_voices_take_turns_each_on_a_session_of_its_own(fake, narrator, tmp_path):
    asked = [("marin", None), ("cedar", "cedar"), ("marin", "marin"), ("cedar", "cedar"), ("ash", "ash")]
    for i, (_, voice) in enumerate(asked):
        narrator.speak(f"{EN} Piece {i}.", tmp_path / f"{i}.wav", language="en", voice=voice)
    said = spoken(fake)
    assert [r["voice"] for r in said] == [expected for expected, _ in asked]
    assert [r["text"] for r in said] == [f"{EN} Piece {i}." for i in range(len(asked))]
    for session in {r["session"] for r in said}:  # no session ever changed its voice
        assert len({r["voice"] for r in said if r["session"] == session}) == 1
    voices = [e["session"]["audio"]["output"]["voice"] for e in client_events(fake, "session.update")]
    assert sorted(voices) == sorted(["marin", "cedar", "marin", "cedar", "ash"])  # one thread: one connection kept
    assert narrator.connections_opened == 5
    assert wait_for(lambda: fake.count("realtime_open") == 1)
    assert not [e for e in client_events(fake) if e.get("type") not in ("session.update", "response.create")]


def test_threads_with_different_voices_never_share_a_session(fake, narrator, tmp_path):
    fake.realtime_latency = 0.1
    voices, errors, start = ["marin", "cedar", "marin", "cedar"], [], threading.Barrier(4)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(3):
                narrator.speak(f"{EN} Thread {t} piece {i}.", tmp_path / f"{t}_{i}.wav", language="en",
                               voice=voices[t])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    assert not errors
    said = spoken(fake)
    assert len(said) == 12
    for record in said:
        t = int(record["text"].split("Thread ")[1].split()[0])
        assert record["voice"] == voices[t]
    for session in {r["session"] for r in said}:
        assert len({r["voice"] for r in said if r["session"] == session}) == 1
    assert fake.realtime_peak <= 4


def test_the_pool_keeps_a_connection_per_voice_up_to_the_threads_it_served(fake, narrator, tmp_path):
    fake.realtime_latency = 0.2
    start = threading.Barrier(2)

    def work(voice: str) -> None:
        start.wait()
        narrator.speak(EN, tmp_path / f"{voice}.wav", language="en", voice=voice)

    workers = [threading.Thread(target=work, args=(v,)) for v in ("marin", "cedar")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    assert narrator.connections_opened == 2
    fake.realtime_latency = 0.0
    for i, voice in enumerate(["cedar", "marin", "cedar", "marin"]):  # two threads' worth: both stay open
        narrator.speak(EN, tmp_path / f"{i}.wav", language="en", voice=voice)
    assert narrator.connections_opened == 2
    narrator.speak(EN, tmp_path / "ash.wav", language="en", voice="ash")  # a third voice replaces the oldest
    assert narrator.connections_opened == 3
    assert wait_for(lambda: fake.count("realtime_open") == 2)
    narrator.speak(EN, tmp_path / "last.wav", language="en", voice="marin")
    assert narrator.connections_opened == 3
    assert [r["voice"] for r in spoken(fake)][-2:] == ["ash", "marin"]


def test_the_style_of_the_call_wins_over_the_configured_one(fake, narrator, tmp_path):
    narrator.speak(EN, tmp_path / "a.wav", language="en", style="Lively and energetic, with a smile.")
    narrator.speak(EN, tmp_path / "b.wav", language="en")
    narrator.speak(EN, tmp_path / "c.wav", language="en", style="   ")
    first, second, third = (r["instructions"] for r in spoken(fake))
    assert "Lively and energetic, with a smile." in first and "calm documentary narrator" not in first
    assert "word for word" in first  # the style adds to the reading rules, never replaces them
    assert "calm documentary narrator" in second and "Lively" not in second
    assert third == second


def test_a_paraphrase_is_asked_again_in_the_same_voice_and_style(fake, narrator, tmp_path):
    fake.realtime_fault("paraphrase")
    narrator.speak(EN, tmp_path / "a.wav", language="en", voice="cedar", style="Serious, like a news anchor.")
    first, second = spoken(fake)
    assert first["voice"] == second["voice"] == "cedar" and first["session"] == second["session"]
    assert "Serious, like a news anchor." in second["instructions"] and "did not match" in second["instructions"]


@pytest.mark.parametrize("voice", ["nova", "Marin", "", "voice_1234"])
def test_an_unknown_voice_is_refused_before_anything_is_paid(fake, narrator, tmp_path, voice):
    narrator.speak(EN, tmp_path / "ok.wav", language="en")  # a connection is open
    with metered() as used, pytest.raises(InputError) as caught:
        narrator.speak(EN, tmp_path / "x.wav", language="en", voice=voice)
    assert isinstance(caught.value, PermanentError) and caught.value.code == "unknown_voice"
    assert repr(voice) in caught.value.detail and "marin" in caught.value.detail
    assert not used and fake.count("realtime") == 1 and fake.realtime_connections == 1
    assert not (tmp_path / "x.wav").exists()
    with pytest.raises(InputError):  # even a pause, which needs no call
        narrator.speak("  ", tmp_path / "y.wav", language="en", voice=voice)


# ---- failures --------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "error", "our_code"), [
    ("server_error", ProviderUnavailable, "provider_unavailable"),
    ("rate_limit_exceeded", ProviderUnavailable, "provider_unavailable"),
    ("insufficient_quota", QuotaExceeded, "provider_quota"),
    ("content_policy_violation", ProviderRejected, "safety_rejected"),
    ("invalid_request_error", ProviderRejected, "provider_rejected"),
])
def test_an_error_event_maps_to_our_error_and_drops_the_connection(fake, narrator, tmp_path, code, error, our_code):
    fake.realtime_fault("error", code=code)
    with pytest.raises(error) as caught:
        narrator.speak(EN, tmp_path / "000.wav", language="en")
    assert caught.value.code == our_code
    if code == "rate_limit_exceeded":
        assert caught.value.retry_after == pytest.approx(1.2)
    assert not list(tmp_path.iterdir())
    narrator.speak(EN, tmp_path / "000.wav", language="en")  # works, on a new connection
    assert fake.realtime_connections == 2


def test_a_dropped_connection_is_transient_leaves_no_file_and_the_next_call_works(fake, narrator, tmp_path):
    narrator.speak(EN, tmp_path / "000.wav", language="en")
    fake.realtime_fault("drop")
    with pytest.raises(ProviderUnavailable):
        narrator.speak(EN, tmp_path / "001.wav", language="en")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000.wav"]  # no partial or temporary file
    narrator.speak(EN, tmp_path / "001.wav", language="en")
    assert fake.realtime_connections == 2 and probe(tmp_path / "001.wav").duration > 3


def test_a_response_past_the_timeout_is_transient(fake, tmp_path):
    fake.realtime_fault("slow", latency=1.0)
    with other_narrator(fake, openai_timeout=0.3) as narrator:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="in time"):
            narrator.speak(EN, tmp_path / "000.wav", language="en")
        assert time.monotonic() - started < 4
        assert not list(tmp_path.iterdir())
        narrator.speak(EN, tmp_path / "000.wav", language="en")
        assert fake.realtime_connections == 2


def test_a_paraphrase_is_asked_again_and_both_are_priced(fake, narrator, tmp_path, captured_logs):
    fake.realtime_fault("paraphrase")
    with metered() as used:
        path = narrator.speak(EN, tmp_path / "000.wav", language="en")
    assert fake.count("realtime") == 2 and len(units(used, "audio_output_token")) == 2
    assert probe(path).duration == pytest.approx(len(EN) / fake.chars_per_second, abs=0.01)
    second = client_events(fake, "response.create")[1]["response"]["instructions"]
    assert "did not match" in second
    [warning] = events(captured_logs, "realtime_paraphrase")
    assert warning["word_diff"] > 0.15 and warning["attempt"] == 1


def test_a_second_paraphrase_is_refused(fake, narrator, tmp_path):
    fake.realtime_fault("paraphrase", times=2)
    with metered() as used, pytest.raises(ProviderRejected) as caught:
        narrator.speak(RU, tmp_path / "000.wav", language="ru")
    assert caught.value.code == "narration_paraphrased" and message_for(caught.value, "ru")
    assert len(units(used, "audio_output_token")) == 2  # both were paid for
    assert not list(tmp_path.iterdir())
    narrator.speak(RU, tmp_path / "000.wav", language="ru")  # the connection itself was fine
    assert fake.realtime_connections == 1


def test_a_wrong_key_is_an_auth_failure_without_the_key(fake, tmp_path):
    with other_narrator(fake, openai_api_key="sk-wrong-0123456789abcdef") as narrator, \
            pytest.raises(ProviderFailed) as caught:
        narrator.speak(EN, tmp_path / "000.wav", language="en")
    assert caught.value.code == "provider_auth"
    assert "401" in caught.value.detail and "0123456789abcdef" not in caught.value.detail
    assert fake.realtime_connections == 0


@pytest.mark.parametrize(("model", "our_code"), [("gpt-realtime-mini", "model_retired"),
                                                 ("gpt-realtime-9-nano", "model_unknown"),
                                                 ("gpt-6-luna", "model_unknown")])
def test_a_retired_or_unknown_model_is_a_clear_permanent_error(fake, tmp_path, model, our_code):
    fake.models["gpt-realtime-mini"], fake.today = "2027-01-20", "2027-02-01"
    with other_narrator(fake, openai_tts_model=model) as narrator, pytest.raises(ProviderRejected) as caught:
        narrator.speak(EN, tmp_path / "000.wav", language="en")
    assert isinstance(caught.value, PermanentError) and caught.value.code == our_code
    assert model in caught.value.detail and message_for(caught.value, "en")
    assert fake.count("realtime") == 0


def test_word_diff_ignores_case_and_punctuation_but_not_words():
    assert word_diff("Hello, world! Ёлка.", "hello world елка") == 0
    assert word_diff(EN, EN.replace("dream", "wish")) < 0.15
    assert word_diff(EN, "In short, long ago, and so on.") > 0.5
    assert word_diff(EN, "") == 1


# ---- the fake is as strict as the real API ----------------------------------------------
def test_the_fake_refuses_bad_session_fields_and_unknown_events(fake):
    client = openai.OpenAI(api_key=DEFAULT_KEY, base_url=f"{fake.url}/v1")
    bad = [
        ({"type": "realtime", "output_modalities": ["video"]}, "session.output_modalities[0]", "invalid_value"),
        ({"type": "realtime", "audio": {"output": {"voice": "nova"}}}, "session.audio.output.voice", "invalid_value"),
        ({"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}},
         "session.audio.output.format.rate", "invalid_value"),
        ({"type": "realtime", "modalities": ["audio"]}, "session.modalities", "unknown_parameter"),
        ({"output_modalities": ["audio"]}, "session.type", "missing_required_parameter"),
    ]
    with client.realtime.connect(model=MODEL) as conn:
        assert conn.recv().type == "session.created"
        for session, param, code in bad:
            conn.session.update(session=session)
            event = conn.recv()
            assert event.type == "error", session
            assert (event.error.type, event.error.param, event.error.code) == ("invalid_request_error", param, code)
        conn.send({"type": "response.speak"})
        event = conn.recv()
        assert event.type == "error" and event.error.param == "type"
        assert "Invalid value: 'response.speak'" in event.error.message
        conn.session.update(session={"type": "realtime", "audio": {"output": {"voice": "cedar"}}})
        updated = conn.recv()  # the session survived the errors
        assert updated.type == "session.updated" and updated.session.audio.output.voice == "cedar"


def test_the_fake_fixes_the_voice_once_the_session_has_spoken(fake):
    client = openai.OpenAI(api_key=DEFAULT_KEY, base_url=f"{fake.url}/v1")
    read = {"conversation": "none", "output_modalities": ["audio"],
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello."}]}]}
    with client.realtime.connect(model=MODEL) as conn:
        assert conn.recv().type == "session.created"
        conn.session.update(session={"type": "realtime", "audio": {"output": {"voice": "ash"}}})
        assert conn.recv().type == "session.updated"  # before any audio: the voice may change
        conn.response.create(response=read)
        done = next(e for e in iter(conn.recv, None) if e.type in ("response.done", "error"))
        assert done.type == "response.done" and done.response.audio.output.voice == "ash"
        for change in ({"type": "session.update", "session": {"type": "realtime",
                                                              "audio": {"output": {"voice": "cedar"}}}},
                       {"type": "response.create", "response": {**read, "audio": {"output": {"voice": "cedar"}}}}):
            conn.send(change)
            event = conn.recv()
            assert event.type == "error" and event.error.code == "cannot_update_voice", change["type"]
        conn.response.create(response={**read, "audio": {"output": {"voice": "ash"}}})  # the same voice is fine
        done = next(e for e in iter(conn.recv, None) if e.type in ("response.done", "error"))
        assert done.type == "response.done"
    assert [r["voice"] for r in spoken(fake)] == ["ash", "ash"]


def test_the_fake_speaks_websocket_properly_fragments_and_pings(fake):
    url = f"ws://127.0.0.1:{fake.port}/v1/realtime?model={MODEL}"
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {DEFAULT_KEY}"}) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        assert ws.ping().wait(2)  # answered with a pong
        update = json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "Hi."}})
        ws.send([update[:20], update[20:]])  # one message in two fragments
        assert json.loads(ws.recv())["type"] == "session.updated"
    with pytest.raises(Exception, match="HTTP 401"):
        ws_connect(url, additional_headers={"Authorization": "Bearer sk-nope-000000000000"})
