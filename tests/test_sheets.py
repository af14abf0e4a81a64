"""Contact sheets on real files: the grid, the tile numbers, the format, and that a sheet
of a job's pictures stays small enough to send as one Telegram photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storyreel.errors import MediaError
from storyreel.media.sheets import MAX_SIDES, contact_sheet
from storyreel.models import ScriptSegment, VideoFormat
from storyreel.providers.local.pictures import ProceduralPictureMaker

SMALL = VideoFormat(480, 270)


def _pictures(tmp_path: Path, count: int, fmt: VideoFormat = SMALL) -> list[Path]:
    maker = ProceduralPictureMaker()
    return [maker.make(ScriptSegment(i, f"Segment {i}.", i * 5.0, i * 5.0 + 5, "a meadow", ""),
                       tmp_path / "pictures" / f"{i}.png", fmt, seed="s") for i in range(count)]


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def test_one_tile_per_picture_in_a_grid(tmp_path):
    pictures = _pictures(tmp_path, 5)
    out = contact_sheet(pictures, tmp_path / "sheet" / "sheet.png", columns=3, thumb_width=200)
    sheet = _pixels(out)
    tile_h = 200 * SMALL.height / SMALL.width
    h, w = sheet.shape[:2]
    assert 3 * 200 < w < 3 * 200 + 60 and 2 * tile_h < h < 2 * tile_h + 60
    assert sorted(p.name for p in out.parent.iterdir()) == ["sheet.png"]  # written atomically
    # the fifth slot holds a picture, the sixth is empty background
    fifth = sheet[h * 3 // 4 - 10: h * 3 // 4 + 10, w // 2 - 10: w // 2 + 10]
    sixth = sheet[h * 3 // 4 - 10: h * 3 // 4 + 10, w * 5 // 6 - 10: w * 5 // 6 + 10]
    assert (sixth == sixth[0, 0]).all() and np.abs(fifth - sixth).mean() > 5


def test_defaults_are_four_small_tiles_to_a_row(tmp_path):
    sheet = _pixels(contact_sheet(_pictures(tmp_path, 6), tmp_path / "sheet.png"))
    h, w = sheet.shape[:2]
    assert 4 * 320 < w < 4 * 320 + 60 and 2 * 180 < h < 2 * 180 + 40


def _tile_labels(tmp_path: Path, numbers: list[int] | None, name: str) -> list[np.ndarray]:
    """The bottom left corner of each tile, where its number is drawn."""
    pictures = _pictures(tmp_path, 3)
    sheet = _pixels(contact_sheet([pictures[0]] * 3, tmp_path / name, numbers=numbers, columns=3))
    tw, th, gap = 320, 180, 8
    return [sheet[gap + th - 60: gap + th, gap + i * (tw + gap): gap + i * (tw + gap) + 70] for i in range(3)]


def test_tiles_carry_the_numbers_given(tmp_path):
    # the same picture three times: only the labels can differ
    default = _tile_labels(tmp_path, None, "default.png")
    given = _tile_labels(tmp_path, [6, 7, 12], "given.png")
    again = _tile_labels(tmp_path, [1, 7, 3], "again.png")
    assert np.array_equal(default[0], again[0]) and np.array_equal(given[1], again[1])
    assert not np.array_equal(default[0], given[0]) and not np.array_equal(default[2], given[2])
    # "12" is wider than "6": more white pixels in its circle
    white = [int((corner.min(axis=2) > 200).sum()) for corner in given]
    assert white[2] > white[0]


def test_numbers_must_match_the_pictures(tmp_path):
    with pytest.raises(ValueError):
        contact_sheet(_pictures(tmp_path, 2), tmp_path / "sheet.png", numbers=[1])


@pytest.mark.parametrize(("name", "kind"), [("sheet.jpg", "JPEG"), ("sheet.JPEG", "JPEG"), ("sheet.png", "PNG")])
def test_format_follows_the_suffix(tmp_path, name, kind):
    out = contact_sheet(_pictures(tmp_path, 2), tmp_path / name)
    with Image.open(out) as img:
        assert img.format == kind


def test_an_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError):
        contact_sheet(_pictures(tmp_path, 1), tmp_path / "sheet.gif")


@pytest.mark.parametrize("fmt", [VideoFormat(1280, 720), VideoFormat(720, 1280)])
def test_twelve_full_size_pictures_make_a_small_telegram_photo(tmp_path, fmt):
    pictures = _pictures(tmp_path, 12, fmt)
    for name in ("sheet.jpg", "sheet.png"):
        out = contact_sheet(pictures, tmp_path / name, numbers=list(range(6, 18)))
        with Image.open(out) as img:
            assert img.width + img.height <= MAX_SIDES
            assert max(img.size) / min(img.size) < 20
        assert out.stat().st_size < (1 if name.endswith(".jpg") else 4) * 1024 * 1024


def test_a_very_long_sheet_gets_smaller_tiles(tmp_path):
    picture = _pictures(tmp_path, 1, VideoFormat(90, 160))[0]
    out = contact_sheet([picture] * 120, tmp_path / "sheet.jpg", columns=4)
    with Image.open(out) as img:
        assert img.width + img.height <= MAX_SIDES
        assert img.width < 4 * 320  # the tiles were shrunk to fit


def test_nothing_or_a_missing_file_fails_and_leaves_nothing(tmp_path):
    with pytest.raises(MediaError):
        contact_sheet([], tmp_path / "sheet.png")
    with pytest.raises(MediaError):
        contact_sheet([tmp_path / "missing.png"], tmp_path / "sheet.png")
    assert list(tmp_path.iterdir()) == []
