"""The offline narrator (eSpeak NG) and transcriber (PocketSphinx), run for real."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from storyreel.errors import ConfigError, InputError, NotAvailableOffline, StoryReelError
from storyreel.media.ffmpeg import run_ffmpeg
from storyreel.providers.base import Narrator, Transcriber
from storyreel.providers.local.speech import ESPEAK_VOICES, EspeakNarrator
from storyreel.providers.local.transcribe import SphinxTranscriber

RU = "Маленький ёжик каждую ночь смотрел на яркие звёзды."  # 8 words
EN = "The little hedgehog watched the bright stars every night."  # 9 words
# espeak's en-us voice at a slowish rate: pocketsphinx gets these words right reliably
ROUND_TRIP = "Once upon a time there was a little girl."
ROUND_TRIP_WORDS = {"time", "little", "girl"}


def _read_wav(path: Path) -> tuple[float, float, int]:
    """(duration in seconds, RMS of the samples, sample rate)."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    return samples.size / rate, rms, rate


def _no_partial_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".part" in p.name]


@pytest.fixture(scope="module")
def narrator() -> EspeakNarrator:
    return EspeakNarrator()


@pytest.fixture(scope="module")
def transcriber() -> SphinxTranscriber:
    return SphinxTranscriber()


def test_they_implement_the_interfaces(narrator, transcriber):
    assert isinstance(narrator, Narrator) and narrator.name == "espeak" and narrator.max_chars >= 1000
    assert isinstance(transcriber, Transcriber) and transcriber.name == "pocketsphinx"


@pytest.mark.parametrize(("language", "text"), [("ru", RU), ("en", EN)])
def test_narration_is_speech_of_a_plausible_length(narrator, tmp_path, language, text):
    out = narrator.speak(text, tmp_path / f"{language}.wav", language=language)
    assert out == tmp_path / f"{language}.wav"
    seconds, rms, rate = _read_wav(out)
    assert rate == 22050
    assert 1.5 < seconds < 6.0
    assert rms > 500
    assert _no_partial_files(tmp_path)


def test_a_slower_rate_gives_longer_audio(tmp_path):
    slow = EspeakNarrator(rate_wpm=110).speak(EN, tmp_path / "slow.wav", language="en")
    fast = EspeakNarrator(rate_wpm=250).speak(EN, tmp_path / "fast.wav", language="en")
    assert _read_wav(slow)[0] > 1.6 * _read_wav(fast)[0]


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_blank_text_gives_a_short_silence(narrator, tmp_path, text):
    seconds, rms, _ = _read_wav(narrator.speak(text, tmp_path / "pause.wav", language="ru"))
    assert 0.05 <= seconds <= 0.2
    assert rms == 0.0


def test_regional_codes_fall_back_to_the_language(narrator, tmp_path):
    seconds, rms, _ = _read_wav(narrator.speak(RU, tmp_path / "ru.wav", language="ru-RU"))
    assert seconds > 1.5 and rms > 500


def test_an_unknown_language_is_not_available_offline(narrator, tmp_path):
    with pytest.raises(NotAvailableOffline) as info:
        narrator.speak("hello", tmp_path / "xx.wav", language="xx")
    assert info.value.code == "language_not_available_offline"
    assert pickle.loads(pickle.dumps(info.value)).code == "language_not_available_offline"
    assert list(tmp_path.iterdir()) == []
    # the failure left the engine usable
    assert _read_wav(narrator.speak(EN, tmp_path / "en.wav", language="en"))[1] > 500


def test_concurrent_narrations_do_not_mix(narrator, tmp_path):
    jobs = [(RU, "ru"), (EN, "en")] * 4
    expected = {lang: _read_wav(narrator.speak(text, tmp_path / f"ref-{lang}.wav", language=lang))[0]
                for text, lang in jobs[:2]}

    def speak(i: int) -> tuple[str, Path]:
        text, lang = jobs[i]
        return lang, narrator.speak(text, tmp_path / f"t{i}.wav", language=lang)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(speak, range(len(jobs))))
    for lang, path in results:
        seconds, rms, _ = _read_wav(path)
        assert seconds == pytest.approx(expected[lang], rel=0.05) and rms > 500
    assert _no_partial_files(tmp_path)


# ---- voice and style ---------------------------------------------------------------------
def _features(path: Path) -> np.ndarray:
    """What tells voices apart: (seconds, RMS, spectral centroid in Hz)."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    centroid = float((spectrum * np.fft.rfftfreq(samples.size, 1 / rate)).sum() / spectrum.sum())
    return np.array([samples.size / rate, np.sqrt(np.mean(samples**2)), centroid])


def _apart(a: np.ndarray, b: np.ndarray) -> float:
    """The largest relative difference of two feature vectors."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))


def test_the_voices_are_espeak_variants_the_default_first():
    import espeakng_loader

    assert EspeakNarrator().voices[0] == "default" and set(EspeakNarrator().voices) == set(ESPEAK_VOICES)
    assert len(ESPEAK_VOICES) >= 4
    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    assert all((folder / v).is_file() for v in ESPEAK_VOICES if v != "default")
    chosen = EspeakNarrator(voice="f2")
    assert chosen.voices[0] == "f2" and sorted(chosen.voices) == sorted(ESPEAK_VOICES)
    with pytest.raises(ConfigError):
        EspeakNarrator(voice="marin")


@pytest.mark.parametrize(("language", "text"), [("ru", RU), ("en", EN)])
def test_each_voice_sounds_different_and_the_same_every_time(narrator, tmp_path, language, text):
    heard = {}
    for voice in narrator.voices:
        path = narrator.speak(text, tmp_path / f"{voice}.wav", language=language, voice=voice)
        seconds, rms, rate = _read_wav(path)
        assert rate == 22050 and 1.5 < seconds < 6.0 and rms > 500, voice
        heard[voice] = _features(path)
        again = _features(narrator.speak(text, tmp_path / "again.wav", language=language, voice=voice))
        assert _apart(again, heard[voice]) < 0.03, voice  # eSpeak varies by a few samples, no more
    for i, a in enumerate(narrator.voices):
        for b in narrator.voices[i + 1:]:
            assert _apart(heard[a], heard[b]) > 0.08, (a, b)
    plain = _features(narrator.speak(text, tmp_path / "none.wav", language=language))
    assert _apart(plain, heard["default"]) < 0.03
    assert heard["f2"][2] > 1.1 * heard["default"][2]  # the female variant is brighter


def test_a_style_changes_the_pace_a_little(narrator, tmp_path, captured_logs):
    def seconds(style: str) -> float:
        return _read_wav(narrator.speak(EN, tmp_path / "s.wav", language="en", style=style))[0]

    plain = seconds("")
    lively = seconds("Lively and energetic, with a smile in the voice.")
    calm = seconds("Calm, warm and unhurried, like a documentary narrator.")
    serious = seconds("Serious and measured, like a news anchor.")
    assert lively < 0.95 * plain and calm > 1.03 * plain and plain < serious < calm
    assert seconds("Спокойно и тепло.") == pytest.approx(calm, rel=0.01)  # Russian style words too
    assert seconds("whispering like a pirate") == pytest.approx(plain, rel=0.01)  # nothing it can do: ignored
    assert seconds("lively") == pytest.approx(lively, rel=0.01)  # a key alone is enough
    done = [json.loads(line) for line in captured_logs.getvalue().splitlines() if '"narration_done"' in line]
    paces = [(d["rate_wpm"], d["pitch"]) for d in done]
    assert paces == [(165, 50), (185, 56), (152, 46), (158, 42), (152, 46), (165, 50), (185, 56)]


@pytest.mark.parametrize("voice", ["marin", "F2", "", "en-us+f2", "croak"])
def test_an_unknown_voice_is_refused(narrator, tmp_path, voice):
    with pytest.raises(InputError) as info:
        narrator.speak(EN, tmp_path / "x.wav", language="en", voice=voice)
    assert info.value.code == "unknown_voice"
    assert list(tmp_path.iterdir()) == []


def test_voices_at_once_from_threads_do_not_mix(narrator, tmp_path):
    jobs = [(RU, "ru", "f5"), (EN, "en", "klatt"), (RU, "ru", "default"), (EN, "en", "m1")] * 3
    expected = {(lang, voice): _features(narrator.speak(text, tmp_path / f"ref-{lang}-{voice}.wav", language=lang,
                                                        voice=voice)) for text, lang, voice in jobs[:4]}

    def speak(i: int) -> tuple[tuple[str, str], np.ndarray]:
        text, lang, voice = jobs[i]
        return (lang, voice), _features(narrator.speak(text, tmp_path / f"t{i}.wav", language=lang, voice=voice))

    with ThreadPoolExecutor(max_workers=4) as pool:
        for key, heard in pool.map(speak, range(len(jobs))):
            assert _apart(heard, expected[key]) < 0.03, key


def _speak_in_child(path: str) -> None:
    EspeakNarrator().speak(EN, Path(path), language="en")


def test_a_forked_child_can_narrate(narrator, tmp_path):
    narrator.speak(RU, tmp_path / "parent.wav", language="ru")  # the parent is initialised
    child = multiprocessing.get_context("fork").Process(target=_speak_in_child, args=(str(tmp_path / "c.wav"),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert _read_wav(tmp_path / "c.wav")[1] > 500


def _voice_note(narrator: EspeakNarrator, text: str, folder: Path) -> Path:
    """``text`` spoken and encoded like a Telegram voice note (Ogg/Opus, 48 kHz mono)."""
    wav = narrator.speak(text, folder / "speech.wav", language="en")
    ogg = folder / "voice.ogg"
    run_ffmpeg(["-i", wav, "-af", "apad=pad_dur=0.5", "-c:a", "libopus", "-b:a", "32k",
                "-ar", "48000", "-ac", "1", ogg])
    wav.unlink()
    return ogg


def test_round_trip_through_a_voice_note(transcriber, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    ogg = _voice_note(EspeakNarrator(rate_wpm=130), ROUND_TRIP, tmp_path)
    result = SphinxTranscriber(temp_dir=scratch).transcribe(ogg)
    assert result.language == "en"
    assert ROUND_TRIP_WORDS & set(result.text.lower().split()), result.text
    again = transcriber.transcribe(ogg, language="en-US")  # another decoder history
    assert ROUND_TRIP_WORDS & set(again.text.lower().split()), again.text
    assert list(scratch.iterdir()) == []


def test_other_languages_are_refused_before_any_work(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for language in ("ru", "de", ""):
        with pytest.raises(NotAvailableOffline) as info:
            SphinxTranscriber(temp_dir=scratch).transcribe(tmp_path / "missing.ogg", language=language)
        assert info.value.code == "language_not_available_offline"
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("content", [b"this is not audio at all\n" * 50, b""])
def test_a_non_audio_file_is_an_input_error(tmp_path, content):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    bogus = tmp_path / "voice.ogg"
    bogus.write_bytes(content)
    with pytest.raises(InputError) as info:
        SphinxTranscriber(temp_dir=scratch).transcribe(bogus)
    assert info.value.code == "audio_unreadable"
    with pytest.raises(InputError):
        SphinxTranscriber(temp_dir=scratch).transcribe(tmp_path / "does-not-exist.ogg")
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("noise_rms", [0.0, 20.0])
def test_silence_is_an_empty_transcription(tmp_path, noise_rms):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    silence = tmp_path / "silence.wav"
    samples = np.random.default_rng(0).normal(0, noise_rms, 16000 * 3).astype("<i2")
    with wave.open(str(silence), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(samples.tobytes())
    with pytest.raises(StoryReelError) as info:
        SphinxTranscriber(temp_dir=scratch).transcribe(silence)
    assert isinstance(info.value, InputError) and info.value.code == "transcription_empty"
    assert list(scratch.iterdir()) == []
