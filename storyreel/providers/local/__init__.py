"""Offline providers: everything StoryReel can make without a network or an API key."""
