"""manifest.yml stays true to the code: what the app registers is what Slack is told, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from handlers.commands import COMMAND
from handlers.file_shares import SHORTCUT
from server.app import SLACK_EVENTS_PATH
from slack_access.scopes import REQUIRED_SCOPES

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def test_the_command_points_at_the_events_path(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND
    assert command["url"].endswith(SLACK_EVENTS_PATH)
    assert len(command["description"]) > 0 and len(command["command"]) <= 32


def test_interactivity_and_options_load_urls(manifest: dict[str, Any]) -> None:
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith(SLACK_EVENTS_PATH)
    assert interactivity["message_menu_options_url"].endswith(SLACK_EVENTS_PATH)


def test_only_the_scopes_the_features_need(manifest: dict[str, Any]) -> None:
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "channels:join",
        "users:read",
        "files:read",
        "channels:history",
        "groups:history",
        "im:history",
        "mpim:history",
        "usergroups:read",  # REPLICA_CREATORS' user groups (replicas/access.py)
        "files:write",  # /replica audit's CSV upload (handlers/audit.py)
    }


def test_the_scopes_check_asks_for_is_the_manifests_list(manifest: dict[str, Any]) -> None:
    # `bot.py check` compares the token's scopes with REQUIRED_SCOPES (the bot does not read
    # the manifest at run time): a scope added to one must be added to the other.
    assert list(REQUIRED_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]


def test_events_come_to_the_events_path(manifest: dict[str, Any]) -> None:
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"].endswith(SLACK_EVENTS_PATH)
    # Each of these has a listener in handlers/file_shares.py, handlers/consent.py or
    # handlers/home.py
    # (unhandled ones get 404 and are retried); their tests send each one.
    assert set(events["bot_events"]) == {
        "message.channels",
        "message.groups",
        "message.im",
        "message.mpim",
        "file_shared",
        "user_change",  # handlers/consent.py: a deactivated account
        "app_home_opened",  # handlers/home.py: publishes the Home tab
    }


def test_app_home_is_enabled(manifest: dict[str, Any]) -> None:
    # handlers/home.py publishes the Home tab; the Messages tab takes the status messages of
    # requests made from Home, and files shared with the bot there (not read-only).
    assert manifest["features"]["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": False,
    }


def test_the_shortcut_is_the_one_the_code_listens_for(manifest: dict[str, Any]) -> None:
    [shortcut] = manifest["features"]["shortcuts"]
    assert shortcut["callback_id"] == SHORTCUT and shortcut["type"] == "message"
    assert len(shortcut["name"]) <= 24 and len(shortcut["description"]) <= 80


def test_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35 and len(info["description"]) <= 140


# -- the Socket Mode variant ------------------------------------------------------------------

SOCKET_MANIFEST = MANIFEST.with_name("manifest.socket-mode.yml")
# Where HTTP mode tells Slack to send requests; Socket Mode has no such thing.
URL_KEYS = frozenset({"url", "request_url", "message_menu_options_url"})


def without_urls(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: without_urls(value) for key, value in node.items() if key not in URL_KEYS}
    if isinstance(node, list):
        return [without_urls(item) for item in node]
    return node


@pytest.fixture(scope="module")
def socket_manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SOCKET_MANIFEST.read_text())
    return data


def test_socket_mode_manifest_is_the_http_one_without_urls(
    manifest: dict[str, Any], socket_manifest: dict[str, Any]
) -> None:
    # Derived from manifest.yml, so a feature, scope, command, shortcut or event added there
    # fails here until the Socket Mode manifest has it too.
    expected = without_urls(manifest)
    expected["settings"]["socket_mode_enabled"] = True
    assert socket_manifest == expected


def test_socket_mode_manifest_switches_the_mode(
    manifest: dict[str, Any], socket_manifest: dict[str, Any]
) -> None:
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert socket_manifest["settings"]["socket_mode_enabled"] is True
    assert socket_manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "YOUR-HOST" not in yaml.safe_dump(socket_manifest)
