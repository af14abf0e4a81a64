"""The offline picture maker and its fonts, on real files: sizes, determinism, text, safety,
and the palette of each visual style."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from storyreel.errors import MediaError
from storyreel.media.fonts import FONT_FAMILY, font_dir, font_path, load_font, wrap_text
from storyreel.models import Aspect, ScriptSegment, VideoFormat
from storyreel.media import sheets
from storyreel.providers.base import PictureMaker, PictureStyle
from storyreel.providers.local.pictures import SAFE_MARGIN, ProceduralPictureMaker, contact_sheet

RU = "Давным-давно в далёком королевстве жил-был старый мельник со своими тремя сыновьями."
EN = "Once upon a time, in a faraway kingdom, there lived an old miller with his three sons."
SMALL = VideoFormat(480, 270)


def _segment(index: int = 0, text: str = EN) -> ScriptSegment:
    return ScriptSegment(index, text, index * 5.0, index * 5.0 + 5, "a meadow", "slow pan")


def _make(tmp_path: Path, name: str, *, index: int = 0, text: str = EN,
          fmt: VideoFormat = SMALL, seed: str = "job-1", style: PictureStyle | None = None) -> np.ndarray:
    path = ProceduralPictureMaker().make(_segment(index, text), tmp_path / name, fmt, seed=seed, style=style)
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).max(axis=2) > 0


def test_is_a_picture_maker():
    maker = ProceduralPictureMaker()
    assert isinstance(maker, PictureMaker)
    assert maker.name == "local"


@pytest.mark.parametrize(
    "size",
    [Aspect.LANDSCAPE.size(), Aspect.PORTRAIT.size(), Aspect.SQUARE.size(), (160, 90), (1920, 1080)],
)
def test_exact_size(tmp_path, size):
    pixels = _make(tmp_path, "p.png", text=RU, fmt=VideoFormat(*size))
    assert pixels.shape == (size[1], size[0], 3)
    assert pixels.std() > 5  # a real picture, not a flat fill


def test_same_inputs_give_same_bytes(tmp_path):
    maker = ProceduralPictureMaker()
    a = maker.make(_segment(3, RU), tmp_path / "a.png", SMALL, seed="job-1")
    b = maker.make(_segment(3, RU), tmp_path / "b.png", SMALL, seed="job-1")
    assert a.read_bytes() == b.read_bytes()


def test_neighbouring_segments_look_different(tmp_path):
    pictures = [_make(tmp_path, f"{i}.png", index=i, text="") for i in range(6)]
    for left, right in zip(pictures, pictures[1:]):
        assert np.abs(left - right).mean() > 20


def test_seed_changes_the_picture(tmp_path):
    a = _make(tmp_path, "a.png", seed="job-1")
    b = _make(tmp_path, "b.png", seed="job-2")
    assert np.abs(a - b).mean() > 10


def test_font_has_cyrillic():
    font = load_font(40)
    known, missing = font.getmask("Ж"), font.getmask("\u0fff")
    assert (known.size, bytes(known)) != (missing.size, bytes(missing))
    assert any(bytes(known))


def test_font_files():
    assert FONT_FAMILY == "Roboto"
    assert font_path().parent == font_dir() == font_path(bold=True).parent
    assert font_path().suffix == ".ttf" and font_path() != font_path(bold=True)
    assert load_font(40) is load_font(40)


def test_russian_caption_is_drawn_in_the_caption_area(tmp_path):
    with_text = _make(tmp_path, "ru.png", text=RU)
    pause = _make(tmp_path, "pause.png", text="")
    h = SMALL.height
    lower = _changed(with_text, pause)[h // 2 : h - math.ceil(h * SAFE_MARGIN)]
    assert lower.mean() > 0.05


def test_draft_mark_follows_the_caption_language(tmp_path):
    ru = _make(tmp_path, "ru.png", text=RU)
    en = _make(tmp_path, "en.png", text=EN)
    h, w = ru.shape[:2]
    top_right = _changed(ru, en)[: h // 4, w // 2 :]
    assert top_right.any()


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (160, 90)])
def test_long_caption_stays_inside_the_safe_area(tmp_path, size):
    fmt = VideoFormat(*size)
    long_text = " ".join(f"слово{i}" if i % 2 else f"word{i}" for i in range(100))
    caption = _make(tmp_path, "long.png", text=long_text, fmt=fmt)
    pause = _make(tmp_path, "pause.png", text="", fmt=fmt)
    # The draft mark depends on the language; compare below it, where only the caption is.
    changed = _changed(caption, pause)
    changed[: fmt.height // 4] = False
    rows, cols = np.nonzero(changed)
    assert rows.size > 0
    w, h = fmt.width, fmt.height
    assert cols.min() >= 0.08 * w and cols.max() < 0.92 * w
    assert rows.min() >= 0.08 * h and rows.max() < 0.92 * h


def test_wrap_text_breaks_between_words():
    font = load_font(20)
    lines = wrap_text("one two three four five six seven", font, 90)
    assert len(lines) > 1
    assert " ".join(lines) == "one two three four five six seven"
    assert all(font.getlength(line) <= 90 for line in lines)


def test_wrap_text_cuts_a_word_longer_than_a_line():
    font = load_font(20)
    lines = wrap_text("a " + "Ж" * 40 + " b", font, 100)
    assert "".join(lines).replace(" ", "") == "a" + "Ж" * 40 + "b"
    assert all(font.getlength(line) <= 100 for line in lines)
    assert wrap_text("   ", font, 100) == []


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="abcЖжя .,\n", max_size=120), width=st.integers(min_value=1, max_value=300))
def test_wrap_text_keeps_every_character_and_fits(text, width):
    font = load_font(16)
    lines = wrap_text(text, font, width)
    assert "".join(lines).replace(" ", "") == "".join(text.split())
    assert all(font.getlength(line) <= width or len(line) == 1 for line in lines)


def test_contact_sheet_is_still_importable_from_here():
    assert contact_sheet is sheets.contact_sheet


# ---- visual styles: the palette follows the chosen style ---------------------------------
def _hsv(pixels: np.ndarray) -> np.ndarray:
    """Hue (0-1), saturation and value (0-255), of the scene only (the marks and caption
    are the same in every style)."""
    image = Image.fromarray(pixels.astype(np.uint8), "RGB").convert("HSV")
    hsv = np.asarray(image, dtype=np.float64)
    return np.stack([hsv[..., 0] / 255, hsv[..., 1], hsv[..., 2]], axis=-1)


def _styled(tmp_path: Path, name: str, count: int = 6) -> np.ndarray:
    """``count`` segments' pictures in the visual style ``name``, with no caption."""
    style = PictureStyle(name=name, prompt="words the offline maker ignores", look="a fox")
    return np.stack([_hsv(_make(tmp_path, f"{name or 'plain'}{i}.png", index=i, text="", style=style))
                     for i in range(count)])


def test_visual_styles_have_clearly_different_palettes(tmp_path):
    plain, photo, cinematic, illustration, anime, watercolor = (
        _styled(tmp_path, name) for name in ("", "photo", "cinematic", "illustration", "anime", "watercolor"))

    def sat(x):
        return x[..., 1].mean()

    def val(x):
        return x[..., 2].mean()

    assert sat(illustration) > sat(plain) + 40 > sat(watercolor) + 80
    assert val(watercolor) > val(plain) + 25 and val(anime) > val(plain) + 25
    assert sat(anime) > sat(watercolor) + 20  # pastel, not grey
    # photo: daylight skies (blue hues); cinematic: mostly teal or orange, darker, punchier
    sky = photo[:, : SMALL.height // 3, :, 0]
    assert ((sky > 0.5) & (sky < 0.72)).mean() > 0.9

    def teal_or_orange(x):
        hue = x[..., 0]
        return (((hue > 0.03) & (hue < 0.15)) | ((hue > 0.4) & (hue < 0.6))).mean()

    assert teal_or_orange(cinematic) > 0.75 > 0.5 > teal_or_orange(plain)
    assert cinematic[..., 2].std() > plain[..., 2].std()  # more contrast


def test_a_style_is_deterministic_and_an_unknown_one_is_the_plain_look(tmp_path):
    maker = ProceduralPictureMaker()

    def make(name: str, style: PictureStyle | None) -> bytes:
        return maker.make(_segment(2, RU), tmp_path / name, SMALL, seed="job-1", style=style).read_bytes()

    anime = PictureStyle(name="anime", look="a fox", references=(tmp_path / "ignored.png",))
    assert make("a.png", anime) == make("b.png", PictureStyle(name="Anime "))
    plain = make("plain.png", None)
    assert make("unknown.png", PictureStyle(name="vaporwave")) == plain == make("none.png", PictureStyle())
    assert make("photo.png", PictureStyle(name="photo")) != plain


def test_a_styled_full_hd_picture_stays_quick(tmp_path):
    maker = ProceduralPictureMaker()
    style = PictureStyle(name="cinematic")
    maker.make(_segment(0), tmp_path / "warm.png", VideoFormat(1280, 720), seed="s", style=style)
    started = time.perf_counter()
    for i in range(5):
        maker.make(_segment(i), tmp_path / f"{i}.png", VideoFormat(1280, 720), seed="s", style=style)
    assert (time.perf_counter() - started) / 5 < 0.25  # ~35 ms here; generous for slow CI


def test_only_the_final_file_is_left(tmp_path):
    out = tmp_path / "pictures"
    ProceduralPictureMaker().make(_segment(), out / "seg_000.png", SMALL, seed="s")
    assert [p.name for p in out.iterdir()] == ["seg_000.png"]


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(MediaError) as info:
        ProceduralPictureMaker().make(_segment(), tmp_path / "seg.png", SMALL, seed="s")
    assert isinstance(info.value.__cause__, OSError)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_raises_media_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(MediaError) as info:
        ProceduralPictureMaker().make(_segment(), blocker / "seg.png", SMALL, seed="s")
    assert isinstance(info.value.__cause__, OSError)
