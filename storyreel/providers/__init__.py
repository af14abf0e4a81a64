"""Providers: one small interface per capability (see ``base``), cloud and local side by side."""
