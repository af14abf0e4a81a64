"""StoryReel: a prompt becomes a narrated video."""

__version__ = "0.1.0"
