"""The OpenAI providers, driven through the real ``openai`` SDK against the loopback fake.

Nothing in the SDK is patched: every call goes over HTTP to ``FakeOpenAI`` on 127.0.0.1,
so retries, Retry-After, timeouts, multipart uploads and error parsing are the SDK's own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from storyreel.errors import (
    ConfigError, InputError, ProviderFailed, ProviderRejected, QuotaExceeded, TransientError,
)
from storyreel.media.ffmpeg import run_ffmpeg
from storyreel.media.probe import probe
from storyreel.messages import message_for
from storyreel.providers.base import Narrator, ScriptWriter, Transcriber, metered
from storyreel.providers.openai_audio import OpenAINarrator, OpenAITranscriber
from storyreel.providers.openai_common import make_openai_client
from storyreel.providers.openai_script import OpenAIScriptWriter
from storyreel.settings import Settings
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
RU_PROMPT = "Сделай видео о том, как строили московское метро"


@pytest.fixture
def fake(openai_server):
    return openai_server


def make_settings(fake: FakeOpenAI | None, **overrides) -> Settings:
    values = dict(openai_api_key=DEFAULT_KEY, openai_base_url=f"{fake.url}/v1" if fake else None,
                  openai_max_retries=2, openai_timeout=5.0)
    values.update(overrides)
    return Settings(_env_file=None, **values)


def writer(fake: FakeOpenAI, **overrides) -> OpenAIScriptWriter:
    settings = make_settings(fake, **overrides)
    return OpenAIScriptWriter(make_openai_client(settings), settings)


@pytest.fixture(scope="module")
def voice_note(tmp_path_factory) -> Path:
    """One second of tone as a Telegram voice note would arrive: Ogg/Opus named .oga."""
    path = tmp_path_factory.mktemp("audio") / "voice.oga"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-ac", "1", "-c:a", "libopus",
                "-b:a", "24k", "-f", "ogg", path])
    return path


# ---- the client ----------------------------------------------------------------------
def test_client_takes_key_retries_and_timeout_from_settings(fake):
    client = make_openai_client(make_settings(fake, openai_max_retries=4, openai_timeout=7.5))
    assert client.api_key == DEFAULT_KEY
    assert client.max_retries == 4
    assert client.timeout == 7.5
    assert str(client.base_url) == f"{fake.url}/v1/"


def test_missing_key_is_a_config_error_naming_the_variable(fake):
    with pytest.raises(ConfigError) as caught:
        make_openai_client(make_settings(fake, openai_api_key="  "))
    assert caught.value.code == "config"
    assert "OPENAI_API_KEY" in message_for(caught.value, "en")


def test_openai_base_url_env_var_is_honoured_when_the_setting_is_unset(fake, monkeypatch):
    settings = make_settings(None)
    assert settings.openai_base_url is None
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
    client = make_openai_client(settings)
    assert str(client.base_url) == f"{fake.url}/v1/"
    script = OpenAIScriptWriter(client, settings).write("bees", language="en", segment_count=2, segment_seconds=5)
    assert len(script.segments) == 2
    assert fake.count("responses") == 1


# ---- the script ------------------------------------------------------------------------
def test_script_via_responses_api(fake):
    script_writer = writer(fake)
    assert isinstance(script_writer, ScriptWriter) and script_writer.name == "openai"
    with metered() as usage:
        script = script_writer.write(RU_PROMPT, language="ru", segment_count=4, segment_seconds=5)

    assert fake.count("responses") == 1 and fake.count("chat") == 0
    call = fake.calls_to("POST", "/v1/responses")[0]
    assert call.headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    body = call.json()
    assert body["model"] == "gpt-6-luna" and body["store"] is False
    assert body["input"] == [{"role": "user", "content": RU_PROMPT}]
    fmt = body["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["strict"] is True
    segments_schema = fmt["schema"]["properties"]["segments"]
    assert segments_schema["minItems"] == segments_schema["maxItems"] == 4
    assert fmt["schema"]["additionalProperties"] is False
    # the look is settled before the pictures are described, the highlights once they are
    assert list(fmt["schema"]["properties"]) == ["title", "look", "segments", "highlights"]
    assert fmt["schema"]["required"] == ["title", "look", "segments", "highlights"]
    # the instructions stay in our code: language, count and the word budget (5 s × 2.3 w/s)
    assert "Russian" in body["instructions"] and "exactly 4 segments" in body["instructions"]
    assert "about 12 words" in body["instructions"]

    assert script.language == "ru" and script.title and not script.draft
    assert script.look.isascii() and "blue coat" in script.look  # one look, in English
    assert script.highlights == [2, 0, 1, 3]  # the fake's numbers 3, 1, 2, 4, from 0
    assert script.warnings == []
    assert [(s.index, s.start, s.end) for s in script.segments] == [(i, i * 5.0, i * 5.0 + 5) for i in range(4)]
    for seg in script.segments:
        assert re.search(r"[а-яё]", seg.text, re.I), seg.text
        assert seg.image_prompt.isascii() and seg.animation_prompt.isascii()
    # priced under the model we asked for, not the dated snapshot the server answers with
    assert {u.unit for u in usage} == {"input_token", "output_token"}
    assert all(u.model == "gpt-6-luna" and u.units > 0 for u in usage)


def test_script_via_chat_completions(fake):
    script = writer(fake, openai_script_api="chat").write(
        "A video about honey bees", language="en", segment_count=3, segment_seconds=5)
    assert fake.count("chat") == 1 and fake.count("responses") == 0
    body = fake.calls_to("POST", "/v1/chat/completions")[0].json()
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "English" in body["messages"][0]["content"]
    rf = body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert rf["json_schema"]["schema"]["properties"]["segments"]["maxItems"] == 3
    assert len(script.segments) == 3 and script.language == "en"
    assert "honey bees" in script.segments[0].text


def test_wrong_count_once_is_repaired_with_the_problems_sent_back(fake):
    fake.fault("wrong_count", times=1)
    with metered() as usage:
        script = writer(fake).write(RU_PROMPT, language="ru", segment_count=4, segment_seconds=5)
    assert len(script.segments) == 4
    assert fake.count("responses") == 2
    repair = fake.calls_to("POST", "/v1/responses")[1].json()["input"]
    assert [m["role"] for m in repair] == ["user", "assistant", "user"]
    assert len(json.loads(repair[1]["content"])["segments"]) == 5  # its own bad answer
    assert "expected exactly 4 segments, got 5" in repair[2]["content"]
    assert sum(1 for u in usage if u.unit == "input_token") == 2  # both calls are paid for


def test_wrong_count_twice_is_script_invalid(fake):
    fake.fault("wrong_count", times=2)
    with pytest.raises(ProviderRejected) as caught:
        writer(fake).write(RU_PROMPT, language="ru", segment_count=4, segment_seconds=5)
    assert caught.value.code == "script_invalid"
    assert fake.count("responses") == 2  # one repair, no more


def test_malformed_json_is_repaired(fake):
    fake.fault("malformed_json", times=1, endpoint="chat")
    script = writer(fake, openai_script_api="chat").write(
        "A video about lighthouses", language="en", segment_count=5, segment_seconds=5)
    assert len(script.segments) == 5
    assert fake.count("chat") == 2
    messages = fake.calls_to("POST", "/v1/chat/completions")[1].json()["messages"]
    assert "not valid JSON" in messages[-1]["content"]


def test_refusal_is_a_safety_rejection_without_repair(fake):
    fake.fault("refusal")
    with pytest.raises(ProviderRejected) as caught:
        writer(fake).write("something", language="en", segment_count=2, segment_seconds=5)
    assert caught.value.code == "safety_rejected"
    assert fake.count("responses") == 1


def test_content_policy_400_is_safety_rejected_and_not_retried(fake):
    fake.fault("bad_request")
    with pytest.raises(ProviderRejected) as caught:
        writer(fake).write("something", language="en", segment_count=2, segment_seconds=5)
    assert caught.value.code == "safety_rejected"
    assert fake.count("responses") == 1


# ---- retries: the SDK's, once ---------------------------------------------------------
def test_429_with_retry_after_is_retried_by_the_sdk(fake):
    fake.fault("rate_limit", times=1, retry_after=0.1)
    started = time.perf_counter()
    script = writer(fake).write("bees", language="en", segment_count=2, segment_seconds=5)
    assert len(script.segments) == 2
    assert fake.count("responses") == 2
    assert time.perf_counter() - started >= 0.1  # Retry-After was waited for
    first, second = fake.calls_to("POST", "/v1/responses")
    assert second.headers["x-stainless-retry-count"] == "1"  # the SDK retried, not our code
    assert second.at - first.at >= 0.09


def test_500_every_time_fails_permanently_after_the_sdk_retries(fake):
    fake.fault("server_error", times=None)
    with pytest.raises(ProviderFailed) as caught:
        writer(fake, openai_max_retries=2).write("bees", language="en", segment_count=2, segment_seconds=5)
    assert fake.count("responses") == 3  # max_retries + 1
    assert not isinstance(caught.value, TransientError)  # nobody retries it again
    assert caught.value.code == "provider_unavailable"


def test_rate_limit_still_failing_after_retries_is_permanent(fake):
    fake.fault("rate_limit", times=None, retry_after=0.01)
    with pytest.raises(ProviderFailed) as caught:
        writer(fake, openai_max_retries=1).write("bees", language="en", segment_count=2, segment_seconds=5)
    assert caught.value.code == "temporary"
    assert fake.count("responses") == 2


def test_insufficient_quota_is_quota_exceeded(fake):
    fake.fault("quota", times=None)
    with pytest.raises(QuotaExceeded) as caught:
        writer(fake, openai_max_retries=0).write("bees", language="en", segment_count=2, segment_seconds=5)
    assert caught.value.code == "provider_quota"
    assert fake.count("responses") == 1


def test_a_slow_server_times_out_as_provider_failed(fake):
    fake.fault("slow", latency=2.0)
    started = time.perf_counter()
    with pytest.raises(ProviderFailed) as caught:
        writer(fake, openai_timeout=0.3, openai_max_retries=0).write(
            "bees", language="en", segment_count=2, segment_seconds=5)
    assert time.perf_counter() - started < 1.5
    assert "APITimeoutError" in caught.value.detail


# ---- speech ----------------------------------------------------------------------------
def test_speech_writes_a_real_wav_of_the_right_length(fake, tmp_path):
    settings = make_settings(fake, openai_tts_model="gpt-4o-mini-tts")
    narrator = OpenAINarrator(make_openai_client(settings), settings)
    assert isinstance(narrator, Narrator) and narrator.max_chars == 4096
    text = "Московское метро открылось в тысяча девятьсот тридцать пятом году."
    out = tmp_path / "narration.wav"
    with metered() as usage:
        assert narrator.speak(text, out, language="ru") == out

    body = fake.calls_to("POST", "/v1/audio/speech")[0].json()
    assert body == {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": text, "response_format": "wav"}
    info = probe(out)
    assert info.audio_codec == "pcm_s16le" and info.sample_rate == 24000
    assert info.duration == pytest.approx(len(text) / 15, abs=0.05)
    # OpenAI streams WAV with 0xFFFFFFFF sizes; the file on disk has the true ones
    with wave.open(str(out)) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(len(text) / 15, abs=0.05)
    assert [(u.model, u.units, u.unit) for u in usage] == [("gpt-4o-mini-tts", len(text), "character")]
    assert [p.name for p in tmp_path.iterdir()] == ["narration.wav"]  # no temporary left behind


def test_speech_over_the_limit_is_refused_without_a_call(fake, tmp_path):
    settings = make_settings(fake, openai_tts_model="gpt-4o-mini-tts")
    narrator = OpenAINarrator(make_openai_client(settings), settings)
    with pytest.raises(InputError) as caught:
        narrator.speak("a" * 4097, tmp_path / "x.wav", language="en")
    assert caught.value.code == "narration_too_long"
    assert fake.count("speech") == 0
    assert not (tmp_path / "x.wav").exists()


def test_blank_speech_is_a_short_silence_without_a_call(fake, tmp_path):
    settings = make_settings(fake, openai_tts_model="gpt-4o-mini-tts")
    out = OpenAINarrator(make_openai_client(settings), settings).speak("  ", tmp_path / "p.wav", language="en")
    assert 0 < probe(out).duration <= 0.2
    assert fake.count("speech") == 0


# ---- transcription ---------------------------------------------------------------------
def test_transcription_uploads_a_voice_note_as_ogg(fake, voice_note):
    settings = make_settings(fake)
    transcriber = OpenAITranscriber(make_openai_client(settings), settings)
    assert isinstance(transcriber, Transcriber)
    with metered() as usage:
        transcript = transcriber.transcribe(voice_note, language="ru")
    assert transcript.text == fake.transcript_text and transcript.language == "ru"
    upload = fake.uploads[0]
    assert upload["filename"].endswith(".ogg") and upload["content_type"] == "audio/ogg"
    assert upload["size"] == voice_note.stat().st_size
    assert upload["fields"]["model"] == "gpt-transcribe" and upload["fields"]["language"] == "ru"
    assert len(usage) == 1 and usage[0].unit == "second" and usage[0].units == pytest.approx(1.0, abs=0.1)


def test_transcription_language_is_detected_when_not_given(fake, voice_note):
    settings = make_settings(fake)
    fake.transcript_text = "Make a video about the first railway."
    transcript = OpenAITranscriber(make_openai_client(settings), settings).transcribe(voice_note)
    assert transcript.language == "en"
    assert "language" not in fake.uploads[0]["fields"]


def test_a_container_the_endpoint_refuses_is_converted_to_ogg(fake, tmp_path):
    aiff = tmp_path / "memo.aiff"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=300:duration=0.5", "-ac", "1", aiff])
    settings = make_settings(fake)
    OpenAITranscriber(make_openai_client(settings), settings).transcribe(aiff, language="en")
    assert fake.uploads[0]["filename"] == "audio.ogg"  # the fake checks it is really Ogg


def test_a_26_mb_file_is_refused_before_upload(fake, tmp_path):
    big = tmp_path / "long.ogg"
    with big.open("wb") as f:
        f.truncate(26 * 1024 * 1024)
    settings = make_settings(fake)
    with pytest.raises(InputError) as caught:
        OpenAITranscriber(make_openai_client(settings), settings).transcribe(big)
    assert caught.value.code == "audio_too_large"
    assert "25" in message_for(caught.value, "ru")
    assert fake.count("transcriptions") == 0


def test_empty_transcription_is_an_input_error(fake, voice_note):
    fake.fault("empty_text", endpoint="transcriptions")
    settings = make_settings(fake)
    with metered() as usage, pytest.raises(InputError) as caught:
        OpenAITranscriber(make_openai_client(settings), settings).transcribe(voice_note)
    assert caught.value.code == "transcription_empty"
    assert len(usage) == 1  # the call was still paid for


# ---- secrets ---------------------------------------------------------------------------
def test_the_key_never_reaches_logs_or_errors(fake, captured_logs):
    writer(fake).write("bees", language="en", segment_count=2, segment_seconds=5)  # a logged success

    secret = "sk-live-SECRET-0123456789abcdefghij"
    fake.leak_key_in_errors = True  # a server that echoes the key it was sent
    with pytest.raises(ProviderFailed) as caught:
        writer(fake, openai_api_key=secret).write("bees", language="en", segment_count=2, segment_seconds=5)
    assert caught.value.code == "provider_auth"
    assert fake.count("responses") == 2  # 401 is not retried

    logs = captured_logs.getvalue()
    events = [json.loads(line)["event"] for line in logs.splitlines()]
    assert "openai_call" in events and "openai_call_failed" in events
    assert "Incorrect API key" in logs  # the failure is logged…
    for text in (logs, caught.value.detail, str(caught.value), repr(caught.value), message_for(caught.value)):
        assert secret not in text  # …without the key
        assert DEFAULT_KEY not in text


# ---- the fake on its own ---------------------------------------------------------------
def test_the_fake_runs_from_the_command_line():
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--api-key", "k1"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        settings = Settings(_env_file=None, openai_api_key="k1", openai_base_url=f"{url}/v1",
                            openai_script_api="chat", openai_timeout=5.0)
        script = OpenAIScriptWriter(make_openai_client(settings), settings).write(
            "owls", language="en", segment_count=2, segment_seconds=5)
        assert len(script.segments) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)
