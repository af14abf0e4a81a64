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

A visual style (``PictureStyle.name``) sets the palette: photo natural daylight blues,
cinematic teal and orange with high contrast, illustration saturated, anime bright
pastels, watercolor soft and light; an unknown style or none keeps the plain palette.
It is a cheap grade of the low-resolution scene, so it costs next to nothing.

The number on a picture counts from 1 (``segment.index + 1``).
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ...errors import MediaError
from ...media.files import atomic_path
from ...media.fonts import load_font, wrap_text
from ...media.sheets import contact_sheet
from ...models import ScriptSegment, VideoFormat
from ..base import PictureStyle

#: ``contact_sheet`` lives in ``storyreel.media.sheets``; it is also importable from here
__all__ = ["SAFE_MARGIN", "ProceduralPictureMaker", "contact_sheet"]

#: share of each side kept free of text; the animator later zooms up to 12% and pans,
#: which can crop up to ~11% from one side, so everything written stays inside this
SAFE_MARGIN = 0.09
_SCALE = 3  # the scene is drawn at 1/_SCALE size, then scaled up
_GOLDEN = 0.381966  # hue step between segments: neighbours never get close hues
_KINDS = ("hills", "peaks", "sea")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_PNG_LEVEL = 1  # smooth pictures compress well even at level 1; higher levels cost ~40 ms


@dataclass(frozen=True)
class _Grade:
    """How a visual style colours the scene: where its sky hues lie, then saturation,
    a teal-and-orange split, contrast, and a lift toward a paper-like white."""

    hues: tuple[float, float] = (0.4, 0.68)  # the sky's hues: the first and the span (cyan through red)
    saturation: float = 1.0
    split: float = 0.0  # 0: none; 1: shadows all teal, highlights all orange
    contrast: float = 1.0
    lift: float = 0.0  # share of white blended in
    paper: tuple[int, int, int] = (255, 255, 255)


#: the palette of each visual style; any other name (or none) keeps the plain look
_GRADES = {
    "photo": _Grade(hues=(0.5, 0.14), saturation=0.75, contrast=1.05),  # daylight blues, green ground
    "cinematic": _Grade(saturation=0.9, split=0.7, contrast=1.35),
    "illustration": _Grade(saturation=1.7, contrast=1.1),
    "anime": _Grade(hues=(0.45, 0.5), saturation=1.5, contrast=0.9, lift=0.35),
    "watercolor": _Grade(saturation=0.9, contrast=0.8, lift=0.35, paper=(250, 246, 236)),
}
_TEAL = np.array([0, 128, 128], dtype=np.float32)
_ORANGE = np.array([255, 150, 60], dtype=np.float32)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_PLAIN = _Grade()


class ProceduralPictureMaker:
    """A ``PictureMaker`` drawing offline draft pictures (see the module docstring)."""

    name = "local"
    model = "local-pictures"

    def make(
        self, segment: ScriptSegment, out_path: Path, fmt: VideoFormat, *, seed: str, task: object = None,
        stop: object = None, style: PictureStyle | None = None,
    ) -> Path:
        """Draw the picture of ``segment`` and write it as a PNG of exactly ``fmt``'s size,
        in the palette of ``style``'s visual style (its look and references are not used)."""
        out_path = Path(out_path)
        grade = _GRADES.get((style.name if style else "").strip().lower(), _PLAIN)
        try:
            _save_png(_render(segment.text or "", segment.index, fmt.width, fmt.height, seed, grade), out_path)
        except (OSError, ValueError) as exc:
            raise MediaError(f"cannot write picture {out_path}: {exc}", code="picture_failed") from exc
        return out_path


def _save_png(image: Image.Image, out_path: Path) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        image.save(tmp, format="PNG", compress_level=_PNG_LEVEL)


def _render(text: str, index: int, width: int, height: int, seed: str, grade: _Grade = _PLAIN) -> Image.Image:
    # One stream of numbers per (seed, segment); random.Random seeded with an int from
    # SHA-256 is stable across runs and platforms, unlike hash().
    digest = hashlib.sha256(f"{seed}\x00{index}".encode()).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    job = hashlib.sha256(str(seed).encode()).digest()
    hue = (job[0] / 256 + index * _GOLDEN + rng.uniform(-0.04, 0.04)) % 1.0
    first, span = grade.hues  # by default cyan through red: yellow and green skies look sickly
    hue = first + span * hue
    kind = _KINDS[(job[1] + index) % len(_KINDS)]
    scene = _scene(rng, hue, kind, max(8, width // _SCALE), max(8, height // _SCALE))
    if grade != _PLAIN:
        scene = _colour(scene, grade)
    scene = scene.clip(0, 255).astype(np.uint8)
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
    return img


def _colour(img: np.ndarray, grade: _Grade) -> np.ndarray:
    """``img`` (float RGB, 0-255) in ``grade``'s palette; every step keeps it smooth."""
    luma = (img @ _LUMA)[..., None]
    img = luma + (img - luma) * grade.saturation
    if grade.split:
        # move the colour toward teal in the shadows and orange in the lights, keeping
        # each pixel's brightness
        t = np.clip((luma / 255 - 0.3) / 0.35, 0, 1)
        w = t * t * (3 - 2 * t)  # a short smooth step: few pixels get the muddy mix of both
        tint = (_TEAL / (_TEAL @ _LUMA) * (1 - w) + _ORANGE / (_ORANGE @ _LUMA) * w) * luma
        img = img + (tint - img) * grade.split
    if grade.contrast != 1.0:
        img = (img - 118.0) * grade.contrast + 118.0
    if grade.lift:
        img = img + (np.array(grade.paper, dtype=np.float32) - img) * grade.lift
    return img


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
