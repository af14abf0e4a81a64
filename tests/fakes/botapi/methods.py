"""The Bot API methods a bot calls: its profile and commands, sending, editing and deleting
messages, answering button presses, albums and files.

Each method is ``_api_<name>(params, files)`` with the canonical spelling of the name; it
returns the result or raises ``ApiError``. Where a bot can go wrong the answer is the real
server's: an edit that changes nothing is "message is not modified", an edit or delete of
a message that is not there (never was, or was deleted) is "message to edit/delete not
found", a callback query answered twice or after ``query_age_limit`` seconds is "query is
too old…", and every send and edit to a user who blocked the bot is 403 "Forbidden: bot
was blocked by the user" (deleting the bot's own messages there still works). A voice note
that is not OGG/Opus, MP3 or M4A arrives as a document; one sent by the file_id of another
kind of file is "type of file mismatch"; one to a user whose privacy settings refuse voice
notes (``forbid_voice_messages``) is VOICE_MESSAGES_FORBIDDEN.
"""

from __future__ import annotations

import re

from tests.fakes.botapi import media
from tests.fakes.botapi.entities import Entities
from tests.fakes.botapi.text import caption_text, check_markup, inline_keyboard, message_text
from tests.fakes.botapi.wire import MAX_DOWNLOAD, NOT_MODIFIED, bad

_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                 "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
_CAPTIONED = ("photo", "video", "document", "audio", "voice", "animation")  # what a caption can go on


class BotMethods(Entities):
    """The Bot API methods of ``FakeTelegram`` other than updates and webhooks."""

    # ---- the bot ------------------------------------------------------------------------------

    def _api_getMe(self, params, files):
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def _api_setMyCommands(self, params, files):
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad('parameter "commands" is required')
        for cmd in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(cmd.get("description") or "") <= 256:
                raise bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[params.get("language_code") or ""] = commands
        return True

    def _api_getMyCommands(self, params, files):
        return self.commands.get(params.get("language_code") or "", [])

    # ---- messages -----------------------------------------------------------------------------

    def _api_sendMessage(self, params, files):
        chat_id = self._target(params)
        text, formatting = message_text(params, "message is too long")
        check_markup(params.get("reply_markup"))
        return self._new_message(chat_id, params, formatting, text=text)

    def _api_editMessageText(self, params, files):
        text, formatting = message_text(params, "MESSAGE_TOO_LONG")
        return self._edit(params, "text", text, formatting)

    def _api_editMessageCaption(self, params, files):
        caption, formatting = caption_text(params)
        return self._edit(params, "caption", caption, formatting)

    def _api_editMessageReplyMarkup(self, params, files):
        return self._edit(params)

    def _api_deleteMessage(self, params, files):
        with self._state:
            key, msg = self._stored(params)
            if msg is None:
                raise bad("message to delete not found")
            del self._messages[key]
            self._formats.pop(key, None)
        return True

    def _api_sendChatAction(self, params, files):
        self._target(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        return True

    def _api_answerCallbackQuery(self, params, files):
        query_id = str(params.get("callback_query_id") or "")
        with self._state:
            query = self._check_query(query_id)
            if len(params.get("text") or "") > 200:
                raise bad("MESSAGE_TOO_LONG")
            query["answered"] = True
        return True

    def _edit(self, params: dict, field: str | None = None, value: str | None = None,
              formatting: tuple = ()) -> dict | bool:
        """Edit the stored message's ``field`` (None: only the keyboard) to ``value``
        (None: take it away); the keyboard becomes the one given, or none."""
        check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        with self._state:
            if params.get("chat_id") is not None:
                self._target(params)  # unknown chat, or the user blocked the bot
            key, msg = self._stored(params)
            if msg is None:
                raise bad("message to edit not found")
            if msg["from"]["id"] != self.bot_user["id"]:
                raise bad("message can't be edited")
            if field == "text" and "text" not in msg:
                raise bad("there is no text in the message to edit")
            if field == "caption" and not any(kind in msg for kind in _CAPTIONED):
                raise bad("there is no caption in the message to edit")
            markup = inline_keyboard(params.get("reply_markup"))
            unchanged = msg.get("reply_markup") == markup
            if field is not None:
                unchanged = unchanged and msg.get(field) == value and self._formats.get(key, ()) == formatting
            if unchanged:
                raise bad(NOT_MODIFIED)
            msg.pop("reply_markup", None)  # an edit without a keyboard takes the old one away
            if markup:
                msg["reply_markup"] = markup
            if field is not None:
                msg.pop(field, None)
                if value is not None:
                    msg[field] = value
                self._formats[key] = formatting
            msg["edit_date"] = int(self.now())
            return msg

    # ---- files and albums ---------------------------------------------------------------------

    def _api_sendPhoto(self, params, files):
        return self._send_file("photo", params, files)

    def _api_sendVideo(self, params, files):
        return self._send_file("video", params, files)

    def _api_sendDocument(self, params, files):
        return self._send_file("document", params, files)

    def _api_sendVoice(self, params, files):
        """A voice note: OGG/Opus, MP3 or M4A plays as one; any other file becomes a
        document, as on the real server. A file_id must be a voice note's."""
        chat_id = self._target(params)
        data, file_id = self._file(files, "voice", params.get("voice"))
        check_markup(params.get("reply_markup"))
        caption, formatting = caption_text(params)
        with self._state:
            if chat_id in self._no_voice:
                raise bad("VOICE_MESSAGES_FORBIDDEN")
        if file_id is not None and not self.files[file_id]["path"].startswith("voice/"):
            raise bad("type of file mismatch")
        mime = media.voice_kind(data)
        if mime is None:  # not a voice note: the server keeps it as a document
            content = {"document": {**self._stored_file("document", data, file_id, params),
                                    "mime_type": media.document_mime(data)}}
            return self._new_message(chat_id, params, formatting, **content, **_caption(caption))
        if file_id is None:
            file_id = f"voice-{next(self._ids)}"
            self.add_file(file_id, data, file_path=media.file_path(data, next(self._ids), "voice"))
        entry = self.files[file_id]
        duration = params.get("duration")
        voice = {"file_id": file_id, "file_unique_id": entry["unique_id"],
                 "duration": duration if duration is not None else media.audio_info(data)["duration"],
                 "mime_type": mime, "file_size": entry["size"]}
        return self._new_message(chat_id, params, formatting, voice=voice, **_caption(caption))

    def _send_file(self, kind: str, params: dict, files: dict) -> dict:
        chat_id = self._target(params)
        data, file_id = self._file(files, kind, params.get(kind))
        check_markup(params.get("reply_markup"))
        caption, formatting = caption_text(params)
        content = {kind: self._stored_file(kind, data, file_id, params)}
        return self._new_message(chat_id, params, formatting, **content, **_caption(caption))

    def _api_sendMediaGroup(self, params, files):
        chat_id = self._target(params)
        media = params.get("media")
        if media is None:
            raise bad('parameter "media" is required')
        if not isinstance(media, list) or not media:
            raise bad("there are no messages to send")
        if len(media) > 10:
            raise bad("too many messages to send as an album")
        if len(media) < 2:
            raise bad("media group must include 2-10 items")
        kinds = {item.get("type") for item in media}
        for kind in ("document", "audio"):
            if kind in kinds and len(kinds) > 1:
                raise bad(f"{kind} can't be mixed with other media types")
        contents = []
        for item in media:
            kind = item.get("type")
            if kind not in ("photo", "video", "document", "audio"):
                raise bad(f'can\'t parse InputMedia: type "{kind}" can\'t be used in sendMediaGroup')
            data, file_id = self._file(files, "media", item.get("media"))
            caption, formatting = caption_text(item)
            contents.append((formatting, {kind: self._stored_file(kind, data, file_id, item), **_caption(caption)}))
        group_id = str(13_000_000_000_000_000 + next(self._ids))
        return [self._new_message(chat_id, {}, formatting, media_group_id=group_id, **content)
                for formatting, content in contents]

    def _api_getFile(self, params, files):
        entry = self.files.get(params.get("file_id") or "")
        if entry is None:
            raise bad("invalid file_id")
        if entry["size"] > MAX_DOWNLOAD:
            raise bad("file is too big")
        return {"file_id": params["file_id"], "file_unique_id": entry["unique_id"], "file_size": entry["size"],
                "file_path": entry["path"]}


def _caption(caption: str | None) -> dict:
    return {"caption": caption} if caption else {}
