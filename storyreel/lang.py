"""Language codes and which language a text is in. Russian and English are what the
product speaks to its users; scripts and narration follow the prompt's language."""

from __future__ import annotations

import re

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str, default: str = "ru") -> str:
    """'ru' when Cyrillic letters dominate, 'en' when Latin ones do, else ``default``."""
    cyr = len(_CYRILLIC.findall(text))
    lat = len(_LATIN.findall(text))
    if cyr == 0 and lat == 0:
        return default
    return "ru" if cyr >= lat else "en"


def primary_subtag(code: str | None) -> str:
    """The language of a code without its region or script: "pt-BR", "pt_br", " PT " → "pt"."""
    return (code or "").strip().lower().replace("_", "-").split("-")[0]
