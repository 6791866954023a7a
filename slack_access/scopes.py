"""The bot token scopes the app needs: manifest.yml's `oauth_config.scopes.bot`, in its order.

Kept here as well because the manifest is read only by the tests (PyYAML is a development
dependency); tests/test_manifest.py keeps the two equal. `python bot.py check` compares the
token's scopes with these.
"""

from __future__ import annotations

REQUIRED_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "channels:join",
    "users:read",
    "files:read",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "usergroups:read",
    "files:write",
)
