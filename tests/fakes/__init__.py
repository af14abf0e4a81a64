"""Loopback stand-ins for the servers StoryReel talks to (Telegram, OpenAI, Runway).

Each speaks its real wire format over HTTP, so the official client libraries are driven
against them by base URL; nothing patches a client's internals.
"""
