"""Current OpenAI models: the script writer on a reasoning model, speech on its own server,
and what a shut-down model answers — through the real SDK against the loopback fake."""

from __future__ import annotations

import typing

import openai
import pytest

from storyreel.errors import ConfigError, InputError, PermanentError, ProviderRejected
from storyreel.messages import message_for
from storyreel.providers.base import metered
from storyreel.providers.openai_audio import OpenAINarrator
from storyreel.providers.openai_common import make_openai_client, make_speech_client, speech_api
from storyreel.providers.openai_script import OpenAIScriptWriter
from storyreel.providers.factory import build_providers, choose
from storyreel.settings import Settings
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI


@pytest.fixture
def fake(openai_server):
    return openai_server


def settings_for(fake: FakeOpenAI | None, **overrides) -> Settings:
    values = dict(openai_api_key=DEFAULT_KEY, openai_base_url=f"{fake.url}/v1" if fake else None,
                  openai_max_retries=0, openai_timeout=5.0)
    values.update(overrides)
    return Settings(_env_file=None, **values)


def writer(fake: FakeOpenAI, **overrides) -> OpenAIScriptWriter:
    settings = settings_for(fake, **overrides)
    return OpenAIScriptWriter(make_openai_client(settings), settings)


# ---- defaults that live ----------------------------------------------------------------
def test_no_default_model_has_a_shutdown_date():
    settings = Settings(_env_file=None)
    from tests.fakes.openai_server import MODELS

    for model in (settings.openai_model, settings.openai_tts_model, settings.openai_transcribe_model):
        assert model in MODELS and MODELS[model] is None, model
    assert settings.openai_reasoning_effort == "low"
    assert speech_api(settings) == "realtime"
    # every default model is priced, so the estimate and the ledger are not zero
    assert settings.prices[f"{settings.openai_model}/output_token"] > 0
    assert settings.prices[f"{settings.openai_tts_model}/audio_output_token"] > 0
    assert settings.prices[f"{settings.openai_transcribe_model}/second"] > 0


# ---- the script writer on a reasoning model --------------------------------------------
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_reasoning_model_gets_an_effort_and_no_sampling_parameters(fake, api):
    with metered() as usage:
        script = writer(fake, openai_script_api=api).write("owls", language="en", segment_count=3,
                                                            segment_seconds=5)
    assert len(script.segments) == 3
    path = "/v1/responses" if api == "responses" else "/v1/chat/completions"
    body = fake.calls_to("POST", path)[0].json()
    assert body["model"] == "gpt-6-luna"
    if api == "responses":
        assert body["reasoning"] == {"effort": "low"}
    else:
        assert body["reasoning_effort"] == "low"
    assert not {"temperature", "top_p", "max_tokens"} & set(body)
    # reasoning tokens are output tokens: they are in what is priced
    out = sum(u.units for u in usage if u.unit == "output_token")
    assert out > 120  # the fake's reasoning at "low" alone is 120 tokens


def test_the_fake_refuses_what_a_reasoning_model_refuses(fake):
    import openai

    client = make_openai_client(settings_for(fake))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-6-luna", input="hi", temperature=0.2)
    assert caught.value.code == "unsupported_parameter" and "'temperature'" in str(caught.value)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-6-luna", input="hi", reasoning={"effort": "minimal"})
    assert caught.value.code == "unsupported_value" and "'none', 'low'" in str(caught.value)


def test_an_unsupported_effort_is_a_clear_permanent_error(fake):
    with pytest.raises(ProviderRejected):
        writer(fake, openai_reasoning_effort="minimal").write("owls", language="en", segment_count=2,
                                                              segment_seconds=5)
    assert fake.count("responses") == 1  # not retried


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_a_model_that_does_not_reason_is_asked_again_without_the_effort(fake, api):
    script_writer = writer(fake, openai_script_api=api, openai_model="gpt-4.1-mini")
    script = script_writer.write("owls", language="en", segment_count=2, segment_seconds=5)
    assert len(script.segments) == 2
    endpoint = "responses" if api == "responses" else "chat"
    assert fake.count(endpoint) == 2  # refused once for the effort, then answered
    # remembered: the next script is one request
    script_writer.write("bees", language="en", segment_count=2, segment_seconds=5)
    assert fake.count(endpoint) == 3


def test_no_effort_setting_sends_none(fake):
    writer(fake, openai_reasoning_effort="").write("owls", language="en", segment_count=2, segment_seconds=5)
    body = fake.calls_to("POST", "/v1/responses")[0].json()
    assert "reasoning" not in body


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_an_incomplete_reply_is_repaired_once(fake, api):
    fake.fault("incomplete", times=1)
    script = writer(fake, openai_script_api=api).write("owls", language="en", segment_count=3, segment_seconds=5)
    assert len(script.segments) == 3
    assert fake.count("responses" if api == "responses" else "chat") == 2


def test_an_incomplete_reply_twice_is_script_invalid(fake):
    fake.fault("incomplete", times=2)
    with pytest.raises(ProviderRejected) as caught:
        writer(fake).write("owls", language="en", segment_count=3, segment_seconds=5)
    assert caught.value.code == "script_invalid"


# ---- speech on its own server ----------------------------------------------------------
def test_speech_goes_to_its_own_server_while_the_script_goes_to_openai(monkeypatch, tmp_path):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAI() as script_server, FakeOpenAI(api_key="kokoro-key") as speech_server:
        settings = settings_for(script_server, openai_speech_base_url=f"{speech_server.url}/v1",
                                openai_speech_api_key="kokoro-key", openai_tts_model="tts-1",
                                work_dir=tmp_path / "work")
        assert speech_api(settings) == "speech"
        providers = build_providers(settings)
        assert isinstance(providers.speech, OpenAINarrator)
        providers.script.write("owls", language="en", segment_count=2, segment_seconds=5)
        providers.speech.speak("Owls hunt at night.", tmp_path / "a.wav", language="en")
        assert script_server.count("responses") == 1 and script_server.count("speech") == 0
        assert speech_server.count("speech") == 1 and speech_server.count("responses") == 0
        auth = speech_server.calls_to("POST", "/v1/audio/speech")[0].headers["authorization"]
        assert auth == "Bearer kokoro-key"


def test_a_speech_server_without_any_openai_key(monkeypatch, tmp_path):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAI(api_key="unused") as speech_server:
        settings = Settings(_env_file=None, openai_speech_base_url=f"{speech_server.url}/v1",
                            openai_tts_model="tts-1", openai_speech_api="speech", openai_timeout=5.0)
        # everything else stays offline; speech goes to the self-hosted server
        assert choose(settings) == {"script": "local", "pictures": "local", "motion": "local",
                                    "speech": "openai", "transcription": "local"}
        narrator = OpenAINarrator(make_speech_client(settings), settings)
        narrator.speak("Hello there.", tmp_path / "a.wav", language="en")
        assert speech_server.count("speech") == 1


# ---- the voice and style of each call -------------------------------------------------
def speech_narrator(fake: FakeOpenAI, **overrides) -> OpenAINarrator:
    settings = settings_for(fake, **{"openai_tts_model": "gpt-4o-mini-tts", "openai_speech_api": "speech",
                                     **overrides})
    return OpenAINarrator(make_openai_client(settings), settings)


def sent(fake: FakeOpenAI) -> list[dict]:
    return [call.json() for call in fake.calls_to("POST", "/v1/audio/speech")]


def test_the_voices_are_the_speech_endpoint_ones_the_configured_first(fake):
    from openai.types.audio import speech_create_params as sdk

    listed = [v for arg in typing.get_args(sdk.Voice) if typing.get_origin(arg) is typing.Literal
              for v in typing.get_args(arg)]
    narrator = speech_narrator(fake, openai_tts_voice="onyx")
    assert narrator.voices[0] == "onyx" and sorted(narrator.voices) == sorted(listed)
    assert speech_narrator(fake, openai_tts_model="tts-1-hd", openai_tts_voice="nova").voices[0] == "nova"
    # another server's model: only the voice it is configured with is known to exist there
    assert speech_narrator(fake, openai_tts_model="kokoro", openai_tts_voice="af_bella").voices == ("af_bella",)


def test_each_call_speaks_in_its_voice_and_style(fake, tmp_path):
    narrator = speech_narrator(fake, openai_tts_voice="coral", openai_tts_style="calm documentary narrator")
    narrator.speak("Owls hunt at night.", tmp_path / "a.wav", language="en", voice="onyx",
                   style="Lively and energetic.")
    narrator.speak("Owls hunt at night.", tmp_path / "b.wav", language="en")
    narrator.speak("Owls hunt at night.", tmp_path / "c.wav", language="en", voice="cedar", style="  ")
    first, second, third = sent(fake)
    assert (first["voice"], first["instructions"]) == ("onyx", "Lively and energetic.")
    assert (second["voice"], second["instructions"]) == ("coral", "calm documentary narrator")
    assert (third["voice"], third["instructions"]) == ("cedar", "calm documentary narrator")
    assert all((tmp_path / n).stat().st_size > 1000 for n in ("a.wav", "b.wav", "c.wav"))


def test_no_style_sends_no_instructions(fake, tmp_path):
    speech_narrator(fake).speak("Owls hunt at night.", tmp_path / "a.wav", language="en")
    assert "instructions" not in sent(fake)[0]


@pytest.mark.parametrize("model", ["tts-1", "tts-1-hd"])
def test_a_model_without_instructions_gets_the_voice_but_not_the_style(fake, tmp_path, model):
    narrator = speech_narrator(fake, openai_tts_model=model, openai_tts_style="calm documentary narrator")
    narrator.speak("Owls hunt at night.", tmp_path / "a.wav", language="en", voice="fable", style="Lively.")
    [body] = sent(fake)
    assert body["voice"] == "fable" and "instructions" not in body


@pytest.mark.parametrize("voice", ["bella", "Onyx", "", "af_bella"])
def test_an_unknown_voice_is_refused_without_a_paid_call(fake, tmp_path, voice):
    with metered() as used, pytest.raises(InputError) as caught:
        speech_narrator(fake).speak("Owls hunt at night.", tmp_path / "a.wav", language="en", voice=voice)
    assert isinstance(caught.value, PermanentError) and caught.value.code == "unknown_voice"
    assert repr(voice) in caught.value.detail
    assert fake.count("speech") == 0 and not used and not (tmp_path / "a.wav").exists()


def test_the_fake_refuses_an_unknown_voice_as_the_real_api_does(fake):
    client = make_openai_client(settings_for(fake))
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="gpt-4o-mini-tts", voice="bella", input="Hello.")
    error = caught.value
    assert error.status_code == 400 and error.code == "invalid_value" and error.param == "voice"
    assert error.type == "invalid_request_error"
    assert error.body["message"].startswith("Invalid value: 'bella'. Supported values are: 'alloy', 'ash',")
    assert error.body["message"].endswith(", 'marin', and 'cedar'.")
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", instructions="Calm.")
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "instructions")
    # a custom voice, by its id, and instructions to a model that takes them are fine
    reply = client.audio.speech.create(model="gpt-4o-mini-tts", voice={"id": "voice_1234"}, input="Hello.",
                                       instructions="Calm.", response_format="wav")
    assert reply.content[:4] == b"RIFF"


def test_the_speech_api_follows_the_model_or_the_setting():
    assert speech_api(Settings(_env_file=None, openai_tts_model="gpt-realtime-2.1-mini")) == "realtime"
    assert speech_api(Settings(_env_file=None, openai_tts_model="gpt-4o-mini-tts")) == "speech"
    assert speech_api(Settings(_env_file=None, openai_tts_model="kokoro")) == "speech"
    assert speech_api(Settings(_env_file=None, openai_tts_model="my-voice", openai_speech_api="realtime")) \
        == "realtime"


def test_a_speech_key_without_any_base_url_needs_no_openai_key():
    with pytest.raises(ConfigError):
        make_speech_client(Settings(_env_file=None, openai_api_key=None))


# ---- what a shut-down model answers ----------------------------------------------------
def test_speech_on_a_shut_down_model_is_a_clear_error(fake, tmp_path):
    fake.today = "2027-01-06"
    settings = settings_for(fake, openai_tts_model="gpt-4o-mini-tts")
    narrator = OpenAINarrator(make_openai_client(settings), settings)
    with pytest.raises(ProviderRejected) as caught:
        narrator.speak("Hello.", tmp_path / "a.wav", language="en")
    assert caught.value.code == "model_retired"
    assert "being updated" in message_for(caught.value, "en")
    assert not (tmp_path / "a.wav").exists()


def test_speech_endpoint_refuses_a_realtime_model(fake, tmp_path):
    settings = settings_for(fake, openai_tts_model="gpt-realtime-2.1-mini", openai_speech_api="speech")
    with pytest.raises(ProviderRejected) as caught:
        OpenAINarrator(make_openai_client(settings), settings).speak("Hello.", tmp_path / "a.wav", language="en")
    assert "gpt-realtime-2.1-mini" in caught.value.detail


def test_an_unknown_model_is_model_unknown(fake):
    with pytest.raises(ProviderRejected) as caught:
        writer(fake, openai_model="gpt-9-imaginary").write("owls", language="en", segment_count=2,
                                                           segment_seconds=5)
    assert caught.value.code == "model_unknown"


def test_models_endpoint_reports_shutdown_dates(fake):
    client = make_openai_client(settings_for(fake))
    assert client.models.retrieve("gpt-4o-mini-tts").shutdown_date == "2027-01-06"
    assert client.models.retrieve("gpt-6-luna").shutdown_date is None
    listed = {m.id: m.shutdown_date for m in client.models.list()}
    assert listed["gpt-4.1-mini"] == "2027-01-14"
    fake.today = "2027-01-15"  # gone from the list after its date, still described by id
    assert "gpt-4.1-mini" not in {m.id for m in client.models.list()}
