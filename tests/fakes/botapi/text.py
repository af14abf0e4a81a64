"""Message text as the server reads it: length limits, the HTML and MarkdownV2 parse
modes (to the plain text the user sees, refusing what Telegram cannot parse), and inline
keyboards (64-byte callback data, no bare text buttons).

Entity parsing catches what bots get wrong (unescaped MarkdownV2 characters, unknown or
unclosed HTML tags), not the whole grammar. Besides the plain text, parsing yields a
*formatting* value: equal for equal markup, so an edit that changes only bold or links is
not taken for "message is not modified". The same look reached through different markup
(``<b>`` and ``*``) counts as different, where the real server would compare entities.
"""

from __future__ import annotations

import itertools
import json
from html.parser import HTMLParser
from typing import Any

from tests.fakes.botapi.wire import MAX_CALLBACK_DATA, MAX_CAPTION, MAX_TEXT, bad

_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
              "tg-spoiler", "tg-emoji", "blockquote"}
_MD_RESERVED = set("#+-={}.!()")  # never markup on their own, so always escaped


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.plain: list[str] = []
        self.marks: list[tuple] = []  # (tag and attributes, or "/tag"; offset in the plain text)

    def handle_starttag(self, tag, attrs):
        if tag not in _HTML_TAGS:
            raise bad(f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset {self._at()}')
        self.open.append(tag)
        self.marks.append((tag, tuple(attrs), len("".join(self.plain))))

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            expected = f'"</{self.open[-1]}>"' if self.open else "no end tag"
            raise bad(f"can't parse entities: Unmatched end tag at byte offset {self._at()}, "
                      f'expected {expected}, found "</{tag}>"')
        self.open.pop()
        self.marks.append((f"/{tag}", (), len("".join(self.plain))))

    def handle_data(self, data):
        self.plain.append(data)

    def _at(self) -> int:
        line, col = self.getpos()
        lines = self.rawdata.splitlines(keepends=True)
        return len("".join(lines[:line - 1]).encode()) + len(lines[line - 1][:col].encode()) if lines else 0


def parse_text(text: str, parse_mode: str | None) -> tuple[str, tuple]:
    """The text the user sees and its formatting; 400 where Telegram cannot parse the markup."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        parser = _HtmlText()
        parser.feed(text)
        parser.close()
        if parser.open:
            raise bad(f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{parser.open[-1]}"')
        return "".join(parser.plain), tuple(parser.marks)
    if mode != "markdownv2":
        return text, ()
    out, marks, i, in_code = [], [], 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            out.append(text[i + 1:i + 2])
            i += 1
        elif ch == "`":
            in_code = not in_code
            marks.append((ch, len(out)))
        elif in_code:
            out.append(ch)
        elif ch == "(" and text[i - 1:i] == "]" and ")" in text[i:]:
            end = text.index(")", i)  # a link's URL is not shown
            marks.append((text[i:end + 1], len(out)))
            i = end
        elif ch in _MD_RESERVED:
            raise bad(f"can't parse entities: Character '{ch}' is reserved and must be escaped "
                      "with the preceding '\\'")
        elif ch not in "*_~|[]>":
            out.append(ch)
        else:
            marks.append((ch, len(out)))
        i += 1
    if in_code:
        raise bad(f"can't parse entities: Can't find end of Code entity at byte offset "
                  f"{len(text[:text.rfind('`')].encode())}")
    return "".join(out), tuple(marks)


def plain_text(text: str, parse_mode: str | None) -> str:
    """The text the user sees; 400 where Telegram cannot parse the markup."""
    return parse_text(text, parse_mode)[0]


def message_text(params: dict, too_long: str) -> tuple[str, tuple]:
    """A message's ``text`` parameter read (plain text, formatting); 400 if empty or too long."""
    text = params.get("text") or ""
    if not text.strip():
        raise bad("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad(too_long)
    return _formatted(text, params.get("parse_mode"), params.get("entities"))


def caption_text(params: dict) -> tuple[str | None, tuple]:
    """A ``caption`` parameter read (plain text or None, formatting); 400 if too long."""
    caption = params.get("caption")
    if not caption:
        return None, ()
    if len(caption) > MAX_CAPTION:
        raise bad("message caption is too long")
    return _formatted(caption, params.get("parse_mode"), params.get("caption_entities"))


def _formatted(text: str, parse_mode: str | None, entities: Any) -> tuple[str, tuple]:
    if isinstance(entities, list):  # explicit entities win over a parse mode, as on the server
        return text, tuple(json.dumps(e, sort_keys=True) for e in entities)
    return parse_text(text, parse_mode)


def inline_keyboard(markup: Any) -> dict | None:
    """The inline keyboard a message shows for ``reply_markup`` (None: no keyboard)."""
    return markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None


def check_markup(markup: Any) -> None:
    """400 for a keyboard the server refuses (bad callback data, a button that does nothing)."""
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise bad("object expected as reply markup")
    for button in itertools.chain.from_iterable(markup.get("inline_keyboard", [])):
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
            raise bad("BUTTON_DATA_INVALID")
        if not set(button) - {"text", "style", "icon_custom_emoji_id"}:
            raise bad("text buttons are unallowed in the inline keyboard")
