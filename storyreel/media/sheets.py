"""Contact sheets: several pictures in one small numbered grid, to look at and choose from.

A sheet is what a person sees before approving pictures (in the terminal, or as one
Telegram photo), so it is kept small: 320-pixel tiles, four to a row, a JPEG or a PNG as
the name ends (.jpg/.jpeg or .png). Twelve 16:9 pictures make a sheet of about 1320 × 570
pixels, ~100 KB as a JPEG (~350 KB as a PNG): far under Telegram's photo limits (10 MB,
width and height adding up to at most 10000); a sheet that would pass the latter is drawn
with smaller tiles. Each tile carries its number (1, 2, … or the ``numbers`` given, e.g.
the segments 6 to 10 of a longer job) in its bottom left corner: the top left one
already holds the picture's own mark.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

from ..errors import MediaError
from .files import atomic_path
from .fonts import load_font

#: Telegram's limit for a photo: width + height
MAX_SIDES = 10000
_BACKGROUND = (24, 24, 28)
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


def contact_sheet(
    pictures: list[Path], out_path: Path, *, numbers: list[int] | None = None, columns: int = 4,
    thumb_width: int = 320,
) -> Path:
    """Lay ``pictures`` out as a grid in one JPEG or PNG (by ``out_path``'s suffix), each
    tile labelled with its number in ``numbers`` (default 1..n, in list order).

    Tiles are ``thumb_width`` wide and as tall as the first picture's aspect asks;
    pictures of another shape are fitted inside their tile. ``MediaError`` when there is
    nothing to lay out or a picture cannot be read or the sheet written.
    """
    out_path = Path(out_path)
    kind = _FORMATS.get(out_path.suffix.lower())
    if kind is None:
        raise ValueError(f"a contact sheet is a .jpg, .jpeg or .png file, not {out_path.name!r}")
    numbers = list(range(1, len(pictures) + 1)) if numbers is None else list(numbers)
    if len(numbers) != len(pictures):
        raise ValueError(f"{len(numbers)} numbers for {len(pictures)} pictures")
    if not pictures:
        raise MediaError("a contact sheet needs at least one picture", code="picture_failed")
    try:
        thumbs = [_load_rgb(path) for path in pictures]
        cols = max(1, min(int(columns), len(thumbs)))
        rows = math.ceil(len(thumbs) / cols)
        aspect = thumbs[0].height / thumbs[0].width
        tw = max(16, int(thumb_width))
        # width + height ≈ tw * (cols + rows * aspect) (+ gaps): shrink the tiles to fit
        tw = max(16, min(tw, int(0.97 * MAX_SIDES / (cols + rows * aspect))))
        th = max(9, round(tw * aspect))
        gap = max(4, tw // 40)
        size = (cols * tw + (cols + 1) * gap, rows * th + (rows + 1) * gap)
        sheet = Image.new("RGB", size, _BACKGROUND)
        draw = ImageDraw.Draw(sheet)
        font = load_font(max(10, min(tw, th) // 9), bold=True)
        for i, (thumb, number) in enumerate(zip(thumbs, numbers)):
            thumb.thumbnail((tw, th), Image.BICUBIC)
            x = gap + (i % cols) * (tw + gap)
            y = gap + (i // cols) * (th + gap)
            sheet.paste(thumb, (x + (tw - thumb.width) // 2, y + (th - thumb.height) // 2))
            label = str(number)
            r = max(font.size * 0.85, font.getlength(label) / 2 + font.size * 0.3)
            cx, cy = x + gap + r, y + th - gap - r
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(20, 20, 24), outline="white", width=2)
            draw.text((cx, cy), label, font=font, fill=(255, 255, 255), anchor="mm")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_path) as tmp:
            if kind == "JPEG":
                sheet.save(tmp, format="JPEG", quality=85, optimize=True)
            else:
                sheet.save(tmp, format="PNG", compress_level=6)
    except (OSError, ValueError) as exc:
        raise MediaError(f"cannot make contact sheet {out_path}: {exc}", code="picture_failed") from exc
    return out_path


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.draft("RGB", (1024, 1024))  # a JPEG decodes at a fraction of its size: faster
        return img.convert("RGB")
