"""Slack users as `users.info` describes them (real name, bot, deactivated), and a small
memory of their real names, so that a form can name its requester the moment it opens."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from slack_access.errors import SLACK_ERRORS

logger = logging.getLogger(__name__)

NAME_TTL_SECONDS = 3600.0  # a name changed in Slack shows within the hour
MAX_NAMES = 1000
SLACKBOT = "USLACKBOT"  # not flagged is_bot by users.info, yet no person


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str | None  # their real name; None if they have none
    is_bot: bool = False  # a bot or app user (Slackbot too)
    deleted: bool = False  # deactivated

    @classmethod
    def from_slack(cls, user_id: str, user: Any) -> Person:
        """From users.info's `user` object."""
        data: dict[str, Any] = user if isinstance(user, dict) else {}
        profile = data.get("profile")
        profile = profile if isinstance(profile, dict) else {}
        name = profile.get("real_name") or data.get("real_name")
        return cls(
            user_id=user_id,
            name=(name.strip() or None) if isinstance(name, str) else None,
            is_bot=data.get("is_bot") is True or user_id == SLACKBOT,
            deleted=data.get("deleted") is True,
        )


class People:
    """Looks Slack users up, remembering real names for `ttl` seconds (at most `limit` of
    them, the least recently used going first). Only names are remembered: whether someone is
    a bot or deactivated is always asked afresh."""

    def __init__(
        self,
        *,
        ttl: float = NAME_TTL_SECONDS,
        limit: int = MAX_NAMES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._names: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def cached_name(self, user_id: str) -> str | None:
        """The real name learnt for `user_id` within the last `ttl` seconds, if any."""
        found = self._names.get(user_id)
        if found is None:
            return None
        learnt, name = found
        if self._clock() - learnt > self._ttl:
            del self._names[user_id]
            return None
        self._names.move_to_end(user_id)
        return name

    def remember(self, user_id: str, name: str | None) -> None:
        if name is None:
            self._names.pop(user_id, None)
            return
        self._names[user_id] = (self._clock(), name)
        self._names.move_to_end(user_id)
        while len(self._names) > self._limit:
            self._names.popitem(last=False)

    async def look_up(self, client: AsyncWebClient, user_id: str) -> Person | None:
        """What Slack says of `user_id` now (its name is remembered); None (logged) if Slack
        will not say."""
        try:
            response = await client.users_info(user=user_id)
        except SLACK_ERRORS:
            logger.warning("Could not look up Slack user %s", user_id, exc_info=True)
            return None
        person = Person.from_slack(user_id, response.get("user"))
        self.remember(user_id, person.name)
        return person

    async def full_name(self, client: AsyncWebClient, user_id: str) -> str | None:
        """The user's real name, for the consent sentence; None if Slack will not say."""
        person = await self.look_up(client, user_id)
        return person.name if person is not None else None
