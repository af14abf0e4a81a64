"""Offline draft pictures: a procedural landscape with the segment's caption on it.

``ProceduralPictureMaker`` needs no network and no model. Every picture is a sky
gradient, a few layers of soft hills, peaks or sea, and a sun or moon, with a palette
and a composition picked from ``(seed, segment.index)`` through SHA-256, so a job's
pictures are the same on every run while neighbouring segments look clearly apart
(their hues are a golden-ratio turn apart and their scene kinds differ). The caption,
the segment number and a "DRAFT" mark say plainly that this is a stand-in for the real
picture; it sits, like the caption, inside ``SAFE_MARGIN`` so the animator's zoom and
pan never crop it. The scene is computed with numpy at a third of the size, every edge
anti-aliased analytically, then scaled up: soft shapes, and about 45 ms per 1280×720
PNG. Nothing here retries: any Pillow or OS failure becomes a ``MediaError``.

Numbers on pictures and contact sheets count from 1 (``segment.index + 1``).
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import random
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ...errors import MediaError
from ...media.files import atomic_path
from ...media.fonts import load_font, wrap_text
from ...models import ScriptSegment, VideoFormat

#: share of each side kept free of text; the animator later zooms up to 12% and pans,
#: which can crop up to ~11% from one side, so everything written stays inside this
SAFE_MARGIN = 0.09
_SCALE = 3  # the scene is drawn at 1/_SCALE size, then scaled up
_GOLDEN = 0.381966  # hue step between segments: neighbours never get close hues
_KINDS = ("hills", "peaks", "sea")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_PNG_LEVEL = 1  # smooth pictures compress well even at level 1; higher levels cost ~40 ms


class ProceduralPictureMaker:
    """A ``PictureMaker`` drawing offline draft pictures (see the module docstring)."""

    name = "local"
    model = "local-pictures"

    def make(
        self, segment: ScriptSegment, out_path: Path, fmt: VideoFormat, *, seed: str, task: object = None,
        stop: object = None,
    ) -> Path:
        """Draw the picture of ``segment`` and write it as a PNG of exactly ``fmt``'s size."""
        out_path = Path(out_path)
        try:
            _save_png(_render(segment.text or "", segment.index, fmt.width, fmt.height, seed), out_path)
        except (OSError, ValueError) as exc:
            raise MediaError(f"cannot write picture {out_path}: {exc}", code="picture_failed") from exc
        return out_path


def contact_sheet(
    pictures: list[Path], out_path: Path, *, columns: int = 3, thumb_width: int = 640
) -> Path:
    """Lay ``pictures`` out as a numbered grid (1, 2, … in list order) in one PNG.

    Tiles are ``thumb_width`` wide and as tall as the first picture's aspect asks;
    pictures of another shape are fitted inside their tile.
    """
    out_path = Path(out_path)
    if not pictures:
        raise MediaError("a contact sheet needs at least one picture", code="picture_failed")
    try:
        thumbs = [_load_rgb(path) for path in pictures]
        tw = max(16, int(thumb_width))
        th = max(9, round(tw * thumbs[0].height / thumbs[0].width))
        cols = max(1, min(columns, len(thumbs)))
        rows = math.ceil(len(thumbs) / cols)
        gap = max(4, tw // 40)
        size = (cols * tw + (cols + 1) * gap, rows * th + (rows + 1) * gap)
        sheet = Image.new("RGB", size, (24, 24, 28))
        draw = ImageDraw.Draw(sheet)
        font = load_font(max(10, th // 14), bold=True)
        for i, thumb in enumerate(thumbs):
            thumb.thumbnail((tw, th), Image.BICUBIC)
            x = gap + (i % cols) * (tw + gap)
            y = gap + (i // cols) * (th + gap)
            sheet.paste(thumb, (x + (tw - thumb.width) // 2, y + (th - thumb.height) // 2))
            r = font.size * 0.85
            # bottom left: the top left corner already holds the picture's own number
            cx, cy = x + gap + r, y + th - gap - r
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(20, 20, 24), outline="white", width=2)
            draw.text((cx, cy), str(i + 1), font=font, fill=(255, 255, 255), anchor="mm")
        _save_png(sheet, out_path)
    except (OSError, ValueError) as exc:
        raise MediaError(f"cannot make contact sheet {out_path}: {exc}", code="picture_failed") from exc
    return out_path


def _save_png(image: Image.Image, out_path: Path) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        image.save(tmp, format="PNG", compress_level=_PNG_LEVEL)


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def _render(text: str, index: int, width: int, height: int, seed: str) -> Image.Image:
    # One stream of numbers per (seed, segment); random.Random seeded with an int from
    # SHA-256 is stable across runs and platforms, unlike hash().
    digest = hashlib.sha256(f"{seed}\x00{index}".encode()).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    job = hashlib.sha256(str(seed).encode()).digest()
    hue = (job[0] / 256 + index * _GOLDEN + rng.uniform(-0.04, 0.04)) % 1.0
    hue = 0.4 + 0.68 * hue  # cyan through red: yellow and green skies look sickly
    kind = _KINDS[(job[1] + index) % len(_KINDS)]
    scene = _scene(rng, hue, kind, max(8, width // _SCALE), max(8, height // _SCALE))
    image = Image.fromarray(scene, "RGB").resize((width, height), Image.BICUBIC)
    # An RGBA draw on an RGB image blends translucent fills straight in: no overlay layer.
    draw = ImageDraw.Draw(image, "RGBA")
    _draw_marks(draw, text, index, width, height)
    if text.strip():
        _draw_caption(draw, text, width, height)
    return image


def _hls(h: float, l: float, s: float) -> np.ndarray:
    return np.array(colorsys.hls_to_rgb(h % 1.0, l, s), dtype=np.float32) * 255


def _over(img: np.ndarray, color: np.ndarray, cover: np.ndarray) -> None:
    img += (color - img) * cover[..., None]


def _scene(rng: random.Random, hue: float, kind: str, w: int, h: int) -> np.ndarray:
    """The background at low resolution; every edge is anti-aliased analytically."""
    night = rng.random() < 0.3
    top = _hls(hue, rng.uniform(0.1, 0.16), 0.35) if night else _hls(hue, rng.uniform(0.32, 0.45), 0.45)
    horizon = _hls(hue + 0.08, rng.uniform(0.32, 0.42) if night else rng.uniform(0.7, 0.8), 0.6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (yy / h)[..., None] ** 0.8
    img = top * (1 - t) + horizon * t
    if night:
        for _ in range(60):
            x, y = rng.randrange(w), rng.randrange(h // 2)
            img[y, x] += (255 - img[y, x]) * rng.uniform(0.4, 0.9)
    sun_x, sun_y = rng.uniform(0.15, 0.85) * w, rng.uniform(0.24, 0.42) * h  # below the marks
    sun_r = rng.uniform(0.05, 0.08) * h
    sun = _hls(hue + 0.12, 0.9, 0.3 if night else 0.9)
    dist = np.hypot(xx - sun_x, yy - sun_y)
    _over(img, sun, 0.55 * np.exp(-((dist / (3 * sun_r)) ** 2) / 2))
    box = (slice(max(0, int(sun_y - sun_r - 2)), int(sun_y + sun_r + 3)),
           slice(max(0, int(sun_x - sun_r - 2)), int(sun_x + sun_r + 3)))
    _over(img[box], sun, np.clip(sun_r - dist[box] + 0.5, 0, 1))
    ground = _hls(hue - 0.12, 0.1 if night else 0.22, 0.45)
    layers = rng.randint(3, 4)
    base = rng.uniform(0.5, 0.6) * h
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)
    for n in range(layers):
        depth = n / (layers - 1)  # 0 = farthest, 1 = nearest
        color = horizon * (1 - depth) * 0.7 + ground * (0.3 + 0.7 * depth)
        if kind == "sea" and n == 1:
            _water(img, yy, xx, base + h * 0.03, (sun_x, sun_y, sun_r), sun)
            break
        height = h * ((0.22 if kind == "peaks" else 0.13) - 0.03 * n)
        ridge = base + depth * (h - base) * 0.5 - _profile(rng, kind, x) * height
        slope = np.gradient(ridge)
        soft = 1.0 + 2.5 * (1 - depth) * w / 430  # far edges blurrier: cheap depth of field
        y0 = max(0, int(ridge.min() - 2 * soft))  # rows above the ridge stay as they are
        edge = (yy[y0:] - ridge) / (soft * np.sqrt(1 + slope * slope))
        _over(img[y0:], color, np.clip(edge + 0.5, 0, 1))
    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)[..., None]
    img *= 1 - 0.35 * r2  # a soft vignette
    return img.clip(0, 255).astype(np.uint8)


def _profile(rng: random.Random, kind: str, x: np.ndarray) -> np.ndarray:
    """A skyline between 0 and 1: rolling sines, or triangle waves for peaks."""
    total = np.zeros_like(x)
    for k in range(4):
        f, p, a = rng.uniform(1, 3) * (k + 1), rng.uniform(0, 1), rng.uniform(0.4, 1) / (k + 1)
        if kind == "peaks":
            total += a * (1 - 2 * np.abs((f * x + p) % 1 - 0.5))
        else:
            total += a * (0.5 + 0.5 * np.sin((f * x + p) * math.tau))
    return total / 1.6


def _water(img: np.ndarray, yy: np.ndarray, xx: np.ndarray, top: float,
           sun: tuple[float, float, float], sun_color: np.ndarray) -> None:
    """Below ``top``: the scene mirrored and darkened, with the sun's glitter on it."""
    h = img.shape[0]
    sun_x, sun_y, sun_r = sun
    # Squash the mirror image so it stops short of the sun disc: the glitter below
    # stands for the sun's reflection, a second disc in the water looked odd.
    squash = min(1.0, max(0.0, top - sun_y - 1.5 * sun_r) / max(1.0, h - top))
    below = yy >= top
    rows = np.clip(top - (yy - top) * squash, 0, h - 1).astype(int)
    img[below] = (img[rows, xx.astype(int)] * 0.72)[below]
    spread = min(sun_r, 0.06 * img.shape[1]) * (1 + 3 * np.clip((yy - top) / (h - top), 0, 1))
    waves = min(60.0, h / 4)  # ripples per picture height, fewer than the rows can show
    ripples = np.clip(np.sin((yy / h * waves + np.sin(xx / h * 8) * 0.3) * math.tau) * 2 - 0.6, 0, 1)
    _over(img, sun_color, below * ripples * 0.6 * np.exp(-(((xx - sun_x) / spread) ** 2)))


def _sizes(width: int, height: int) -> tuple[float, int, int]:
    # Text follows the height, but a tall picture's narrow width caps it.
    unit = min(height, width * 1.25)
    return unit, math.ceil(width * SAFE_MARGIN), math.ceil(height * SAFE_MARGIN)


def _draw_marks(draw: ImageDraw.ImageDraw, text: str, index: int, width: int, height: int) -> None:
    """The segment number (top left) and the draft mark in the caption's language (top right)."""
    unit, mx, my = _sizes(width, height)
    font = load_font(max(6, round(unit * 0.032)), bold=True)
    r = font.size * 0.9
    cx, cy = mx + r, my + r
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(0, 0, 0, 110), outline=(255, 255, 255, 170))
    draw.text((cx, cy), str(index + 1), font=font, fill=(255, 255, 255, 230), anchor="mm")
    label = "ЧЕРНОВИК" if _CYRILLIC.search(text) else "DRAFT"
    small = load_font(max(6, round(unit * 0.024)), bold=True)
    pad = small.size * 0.6
    x1, y1 = width - mx, my
    x0 = x1 - small.getlength(label) - 2 * pad
    box = (x0, y1, x1, y1 + small.size + 2 * pad)
    draw.rounded_rectangle(box, radius=pad, fill=(0, 0, 0, 70), outline=(255, 255, 255, 140))
    centre = ((x0 + x1) / 2, y1 + pad + small.size / 2)
    draw.text(centre, label, font=small, fill=(255, 255, 255, 170), anchor="mm")


def _draw_caption(draw: ImageDraw.ImageDraw, text: str, width: int, height: int) -> None:
    # Shrink the text until it fits the lower half of the safe area, down to the size of
    # the marks; what still does not fit is cut with an ellipsis.
    unit, mx, my = _sizes(width, height)
    max_box_h = (height - 2 * my) * 0.5
    size = max(6, round(unit * 0.05))
    while True:
        font = load_font(size)
        pad = max(2, round(size * 0.6))
        line_h = round(size * 1.25)
        lines = wrap_text(text, font, width - 2 * mx - 2 * pad)
        fits = len(lines) * line_h + 2 * pad <= max_box_h
        if fits or size <= max(6, round(unit * 0.032)):
            break
        size -= max(1, size // 12)
    if not fits:
        keep = max(1, int((max_box_h - 2 * pad) // line_h))
        lines = lines[:keep]
        lines[-1] = _ellipsize(lines[-1], font, width - 2 * mx - 2 * pad)
    box_w = max(font.getlength(line) for line in lines) + 2 * pad
    box_h = len(lines) * line_h + 2 * pad
    x0, y1 = (width - box_w) / 2, height - my
    draw.rounded_rectangle((x0, y1 - box_h, x0 + box_w, y1), radius=pad, fill=(0, 0, 0, 150))
    for i, line in enumerate(lines):
        y = y1 - box_h + pad + i * line_h + line_h / 2
        draw.text((width / 2, y), line, font=font, fill=(255, 255, 255, 255), anchor="mm")


def _ellipsize(line: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    while line and font.getlength(line + "…") > max_width:
        line = line[:-1]
    return line.rstrip() + "…"
