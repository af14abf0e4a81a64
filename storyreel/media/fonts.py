"""Where fonts come from: the Roboto files the ``font-roboto`` package ships.

One font family for everything StoryReel draws, so offline pictures and burnt-in
subtitles look alike. Roboto covers Latin and Cyrillic, the two scripts the product
speaks. The subtitle burner hands libass ``fontsdir=font_dir()`` and
``FontName=FONT_FAMILY``; the picture makers call ``load_font``. A missing font is a
broken install, so it is a ``MediaError``, never a silent fallback to Pillow's
bitmap font (which has no Cyrillic).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from ..errors import MediaError

#: the family name libass must ask for; it is the name inside the TTF files
FONT_FAMILY = "Roboto"


def font_dir() -> Path:
    """The folder holding the Roboto TTF files."""
    try:
        import font_roboto
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise MediaError("the font-roboto package is not installed", code="font_missing") from exc
    return Path(font_roboto.font_directory)


def font_path(bold: bool = False) -> Path:
    """The regular (or bold) Roboto file."""
    import font_roboto

    path = Path(font_roboto.font_files["RobotoBold" if bold else "Roboto"])
    if not path.is_file():
        raise MediaError(f"font file {path} is missing", code="font_missing")
    return path


@lru_cache(maxsize=64)
def load_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Roboto at ``size`` pixels; cached, because pictures ask for the same few sizes."""
    try:
        return ImageFont.truetype(str(font_path(bold)), max(1, int(size)))
    except OSError as exc:
        raise MediaError(f"cannot load font {font_path(bold)}: {exc}", code="font_missing") from exc


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Split ``text`` into lines no wider than ``max_width`` pixels when set in ``font``.

    Breaks between words, measured with the real glyph advances; a word longer than a
    whole line is cut between characters. Runs of whitespace (newlines included) count
    as one space.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        if font.getlength(word) <= max_width:
            current = word
            continue
        pieces = _hard_break(word, font, max_width)
        lines.extend(pieces[:-1])
        current = pieces[-1]
    if current:
        lines.append(current)
    return lines


def _hard_break(word: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    # At least one character per piece, or a line narrower than one glyph never ends.
    pieces: list[str] = []
    piece = ""
    for char in word:
        if piece and font.getlength(piece + char) > max_width:
            pieces.append(piece)
            piece = char
        else:
            piece += char
    pieces.append(piece)
    return pieces
