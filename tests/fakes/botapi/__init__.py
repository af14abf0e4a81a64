"""The parts of the fake Telegram Bot API, one concern each; ``tests.fakes.telegram_server``
puts them together as ``FakeTelegram`` and is the module to import.

- ``wire``: the envelope, errors (``ApiError``), parameter decoding, the call record.
- ``media``: real sample media and what the server reads from an upload.
- ``text``: what the server makes of message text, parse modes and inline keyboards.
- ``entities``: users, chats, messages, files and callback queries; the fake's clock.
- ``updates``: the update builders, the ``getUpdates`` queue and webhook delivery.
- ``methods``: the Bot API methods a bot calls.
- ``calls``: the log of calls with their outcomes, and the faults a test injects.
"""
