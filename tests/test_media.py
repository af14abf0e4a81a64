"""The media layer with the real FFmpeg: bitrate math, narration fitting, assembly, subtitles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from storyreel.errors import MediaError
from storyreel.media.assemble import assemble, video_bitrate_for
from storyreel.media.ffmpeg import ffmpeg_binary, run_ffmpeg
from storyreel.media.narration import RATE, build_narration, write_wav
from storyreel.media.probe import audio_samples, probe
from storyreel.media.subtitles import Cue, write_srt
from storyreel.models import ScriptSegment, VideoFormat
from storyreel.providers.local.motion import KenBurnsAnimator

MB = 1024 * 1024


@given(duration=st.floats(1, 3600), limit_mb=st.floats(5, 2000), audio_kbps=st.sampled_from([64, 128, 192]))
def test_bitrate_keeps_video_and_audio_under_the_limit(duration, limit_mb, audio_kbps):
    max_bytes = int(limit_mb * MB)
    try:
        video_bps = video_bitrate_for(duration, max_bytes, audio_kbps * 1000)
    except MediaError as exc:
        assert exc.code == "video_too_long"
        # refused only when even a 150 kb/s picture would not fit with the audio
        assert (150_000 + audio_kbps * 1000) * duration / 8 > max_bytes * 0.9
        return
    total_bytes = (video_bps + audio_kbps * 1000) * duration / 8
    assert total_bytes <= max_bytes * 0.95
    assert video_bps >= 150_000


def test_bitrate_for_the_default_video():
    # 240 s under 50 MB with 128 kb/s audio: about 1.5 Mb/s of video
    bps = video_bitrate_for(240, 50 * MB, 128_000)
    assert 1_300_000 < bps < 1_600_000


def _sounding_seconds(track: np.ndarray) -> float:
    """How long the track is audible, in 10 ms windows (a sine's zero crossings don't count)."""
    win = RATE // 100
    frames = track[: len(track) // win * win].reshape(-1, win)
    return float((np.sqrt((frames ** 2).mean(axis=1)) > 0.05).sum()) / 100


def _tone(path: Path, seconds: float, freq: float = 440.0) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    return write_wav(0.4 * np.sin(2 * np.pi * freq * t), path)


def test_narration_pieces_start_with_their_segments_and_are_never_cut(tmp_path):
    short = _tone(tmp_path / "a.wav", 0.6)
    long = _tone(tmp_path / "b.wav", 1.3)  # longer than its 1 s slot: sped up, then runs on
    out = tmp_path / "track.wav"
    placements = build_narration([(0, 0.0, 1.0, short), (1, 1.0, 2.0, long), (2, 2.0, 3.0, None),
                                  (3, 3.0, 4.0, short)], 4.0, out, max_tempo=1.2)
    track = audio_samples(out, rate=RATE)
    assert abs(len(track) / RATE - 4.0) < 0.01
    by_index = {p.index: p for p in placements}
    assert by_index[0].start == 0.0
    assert by_index[1].start == pytest.approx(1.0, abs=0.15)
    assert by_index[1].tempo == pytest.approx(1.2)
    assert by_index[1].end > 2.0  # ran on instead of being cut
    assert by_index[3].start >= by_index[1].end
    assert 2 not in by_index
    # the whole of every piece is in the track: the sound lasts as long as the pieces
    assert _sounding_seconds(track) == pytest.approx(0.6 + 1.3 / 1.2 + 0.6, abs=0.08)


def test_narration_too_long_for_the_video_is_sped_up_not_cut(tmp_path):
    pieces = [(i, float(i), float(i + 1), _tone(tmp_path / f"{i}.wav", 1.6)) for i in range(3)]
    out = tmp_path / "track.wav"
    placements = build_narration(pieces, 3.0, out, max_tempo=1.2)
    track = audio_samples(out, rate=RATE)
    assert len(track) == pytest.approx(3.0 * RATE, abs=2)
    assert placements[-1].end <= 3.0 + 1e-6
    # about 4.8 s of sound squeezed into 3 s: nothing dropped
    assert _sounding_seconds(track) > 2.8


def test_srt_is_timed_and_splits_long_cues(tmp_path):
    srt = write_srt([Cue(0.0, 1.5, "Привет, мир!"), Cue(1.5, 1.5, "zero length"), Cue(2, 3, ""),
                     Cue(3.25, 9.0, "word " * 30)], tmp_path / "s.srt")
    text = srt.read_text(encoding="utf-8")
    assert text.startswith("1\n00:00:00,000 --> 00:00:01,500\nПривет, мир!\n")
    assert "zero length" not in text
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert len(blocks) >= 3
    assert all(len(line) <= 42 for b in blocks for line in b.splitlines()[2:])


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Four 1-second 320×180 Ken Burns clips of different pictures."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("clips")
    fmt = VideoFormat(320, 180, 24)
    out = []
    for i in range(4):
        pic = folder / f"{i}.png"
        Image.effect_noise((320, 180), 40 + 20 * i).convert("RGB").save(pic)
        seg = ScriptSegment(i, "text", i, i + 1, "", "")
        out.append(KenBurnsAnimator().animate(pic, seg, folder / f"{i}.mp4", fmt, seconds=1.0))
    return fmt, out


def test_clips_are_exact_and_copyable(clips):
    fmt, paths = clips
    for p in paths:
        info = probe(p)
        assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 320, 180)
        assert info.duration == pytest.approx(1.0, abs=0.01)


def test_assembly_stream_copies_when_it_fits(clips, tmp_path):
    fmt, paths = clips
    voice = _tone(tmp_path / "n.wav", 4.0)
    result = assemble(paths, voice, tmp_path / "out.mp4", fmt=fmt, segment_seconds=1.0, max_bytes=50 * MB)
    assert result.reencoded is False
    info = probe(result.path)
    assert (info.video_codec, info.audio_codec, info.pix_fmt) == ("h264", "aac", "yuv420p")
    assert info.duration == pytest.approx(4.0, abs=0.1)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "n.wav", tmp_path / "out.mp4"]


def test_assembly_compresses_in_one_encode_to_fit_the_limit(clips, tmp_path):
    fmt, paths = clips
    voice = _tone(tmp_path / "n.wav", 4.0)
    total = sum(p.stat().st_size for p in paths)
    limit = int(total * 0.6) + 64_000  # clips alone do not fit; the bitrate must be computed
    result = assemble(paths, voice, tmp_path / "out.mp4", fmt=fmt, segment_seconds=1.0, max_bytes=limit,
                      audio_bitrate=64_000)
    assert result.reencoded is True and result.video_bitrate is not None
    assert result.size <= limit
    assert probe(result.path).duration == pytest.approx(4.0, abs=0.1)


def test_assembly_normalises_a_foreign_clip(clips, tmp_path):
    fmt, paths = clips
    odd = tmp_path / "odd.mp4"  # 30 fps, 1.4 s, 400×300: trimmed and letterboxed to fit
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=400x300:rate=30:duration=1.4", "-pix_fmt", "yuv444p",
                "-c:v", "libx264", odd])
    voice = _tone(tmp_path / "n.wav", 4.0)
    result = assemble([paths[0], odd, paths[2], paths[3]], voice, tmp_path / "out.mp4", fmt=fmt,
                      segment_seconds=1.0, max_bytes=50 * MB)
    info = probe(result.path)
    assert result.reencoded and (info.width, info.height, info.pix_fmt) == (320, 180, "yuv420p")
    assert info.duration == pytest.approx(4.0, abs=0.1)


def test_music_is_mixed_under_the_voice(clips, tmp_path):
    fmt, paths = clips
    silence = write_wav(np.zeros(int(4 * RATE)), tmp_path / "quiet.wav")
    music = _tone(tmp_path / "music.wav", 1.5, freq=220)  # shorter than the video: it loops
    result = assemble(paths, silence, tmp_path / "out.mp4", fmt=fmt, segment_seconds=1.0, max_bytes=50 * MB,
                      music=music, music_volume=0.5)
    track = audio_samples(result.path)
    assert np.sqrt(np.mean(track[-8000:] ** 2)) > 0.02  # still playing at the end


def test_ffmpeg_errors_become_media_errors(tmp_path):
    with pytest.raises(MediaError) as info:
        run_ffmpeg(["-i", tmp_path / "missing.wav", tmp_path / "x.wav"])
    assert "missing.wav" in info.value.detail
    with pytest.raises(MediaError) as info:
        ffmpeg_binary(str(tmp_path / "no-such-ffmpeg"))
    assert info.value.code == "ffmpeg_missing"


def _band(track: np.ndarray, rate: int, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(track * np.hanning(len(track))))
    freqs = np.fft.rfftfreq(len(track), 1 / rate)
    return float(spectrum[(freqs > freq - 15) & (freqs < freq + 15)].sum())


def test_music_ducks_under_the_voice(clips, tmp_path):
    fmt, paths = clips
    # the voice (1 kHz) speaks for the first two seconds, then is silent
    t = np.arange(int(4 * RATE)) / RATE
    voice = write_wav(np.where(t < 2.0, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0), tmp_path / "voice.wav")
    music = _tone(tmp_path / "music.wav", 4.0, freq=220)
    result = assemble(paths, voice, tmp_path / "out.mp4", fmt=fmt, segment_seconds=1.0, max_bytes=50 * MB,
                      music=music, music_volume=0.5)
    rate = 16000
    track = audio_samples(result.path, rate=rate)
    under_voice = _band(track[int(0.6 * rate):int(1.6 * rate)], rate, 220)
    alone = _band(track[int(2.6 * rate):int(3.6 * rate)], rate, 220)
    assert _band(track[int(0.6 * rate):int(1.6 * rate)], rate, 1000) > 0, "the voice is there"
    assert under_voice < alone * 0.5, (under_voice, alone)


def test_ffmpeg_is_found_by_setting_then_path_then_the_bundled_binary(tmp_path, monkeypatch):
    from storyreel.media import ffmpeg as ff

    bundled = ffmpeg_binary()
    assert Path(bundled).is_file()

    def wrapper(folder: Path) -> Path:
        folder.mkdir()
        script = folder / "ffmpeg"
        script.write_text(f'#!/bin/sh\nexec "{bundled}" "$@"\n')
        script.chmod(0o755)
        return script

    on_path = wrapper(tmp_path / "bin")
    explicit = wrapper(tmp_path / "explicit")
    monkeypatch.setenv("PATH", f"{on_path.parent}:/usr/bin:/bin")
    monkeypatch.delenv("FFMPEG_BINARY", raising=False)
    ff._locate.cache_clear()
    try:
        assert ffmpeg_binary() == str(on_path)
        assert ffmpeg_binary(str(explicit)) == str(explicit)  # FFMPEG_BINARY, through the settings
        monkeypatch.setenv("PATH", "/nonexistent")
        import imageio_ffmpeg

        assert ffmpeg_binary() == imageio_ffmpeg.get_ffmpeg_exe()
    finally:
        ff._locate.cache_clear()
