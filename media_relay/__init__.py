"""Slack files re-hosted for Tavus: Tavus needs a public URL, Slack's links need the bot token."""

from __future__ import annotations

# Relayed files are served at {PUBLIC_URL}/media/{token}/{file name}.
MEDIA_PATH = "/media/"
