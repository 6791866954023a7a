"""Who may do what: the one place that decides whether someone may create a replica.

Every door that opens the request form asks before opening it, and the form's submission asks
again (the month's limit may have been reached meanwhile, or the configuration changed), so a
refused requester never reaches Tavus. The rules come from the settings:

- REPLICA_ADMINS may always create.
- REPLICA_CREATORS, when set, lists who else may: user ids, and user groups whose members are
  read from Slack (`usergroups.users.list`) and kept for a few minutes.
- REPLICA_MONTHLY_LIMIT, when set, caps each requester's creates per calendar month (UTC).

When something needed to decide cannot be read (Slack, the database), the answer is a refusal
saying so: access is never granted because a check failed.

Speed: a door asks before `views.open`, and a trigger_id dies about 3 s after the click, so
deciding must stay well inside that. It is local settings; user-group members from memory
(after a miss, one Slack call per group, all at once, each cut off after
GROUP_CHECK_SECONDS); and one indexed SQLite count. The submission has the same 3 s, and asks
while the voice is checked with Tavus, not after.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from slack_sdk.errors import SlackApiError

from domain.media import listing
from settings import USER_GROUP_ID, Settings
from slack_access.clients import SlackClients
from slack_access.errors import SLACK_ERRORS
from storage import replicas as store
from storage.database import Storage

logger = logging.getLogger(__name__)

# How long a user group's members are trusted: someone added to the group can create within
# this; someone removed may still create for this long.
GROUP_MEMBERS_TTL_SECONDS = 300.0
# One usergroups.users.list may take this long. Half a trigger_id's life: the rest is for
# Slack's delivery of the click, the SQLite count and views.open.
GROUP_CHECK_SECONDS = 1.5
# The month's count is one indexed SQLite query; past this the database thread is busy.
COUNT_SECONDS = 0.5


@dataclass(frozen=True)
class MonthlyCap:
    """At most `limit` creates by one requester since `since` (UTC ISO, as created_at)."""

    limit: int
    since: str


class MonthlyLimitReached(Exception):
    """The request would pass its requester's monthly limit: nothing was recorded."""


class Why(Enum):
    NOT_A_CREATOR = "not_a_creator"
    MONTHLY_LIMIT = "monthly_limit"
    COULD_NOT_CHECK = "could_not_check"


@dataclass(frozen=True)
class Refusal:
    why: Why
    # For an ephemeral message (mrkdwn): names the admins with mentions.
    message: str
    # For under a form field, which Slack shows as plain text: a mention would show as
    # "<@U…>", so the admins are named by role.
    field_error: str


NOT_A_CREATOR = (
    "Only certain people may create replicas with this bot, and you aren't one of them yet. "
    "To be added, ask {whom}."
)
MONTHLY_LIMIT = (
    "You've reached this month's limit of {limit} per person, so I can't start another. "
    "You can create more from {next_month} (UTC); if you need one sooner, ask {whom}."
)
COULD_NOT_CHECK = (
    "I couldn't check just now whether you may create replicas, so nothing was started. "
    "Please try again in a moment; if this keeps happening, tell {whom}."
)
NO_ADMINS = "whoever runs this bot in your workspace"
ADMINS_BY_ROLE = "one of this bot's admins"

# One Slack answer about a user group (its members; None: Slack could not say).
Members = frozenset[str] | None


def _mentions(admins: Sequence[str]) -> str:
    """'<@U1>', '<@U1> or <@U2>', '<@U1>, <@U2> or <@U3>'."""
    return listing(f"<@{admin}>" for admin in admins)


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AccessPolicy:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        slack: SlackClients,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        creators = settings.replica_creators
        self._everyone = creators is None
        self._groups = tuple(i for i in creators or () if USER_GROUP_ID.fullmatch(i))
        self._creators = frozenset(creators or ()) - set(self._groups)
        self._admins = settings.replica_admins
        self._limit = settings.replica_monthly_limit
        self._storage = storage
        self._slack = slack
        self._clock = clock
        self._now = now
        # (enterprise, team, group) -> (when the answer expires, by `clock`; the members)
        self._members: dict[tuple[str | None, str | None, str], tuple[float, frozenset[str]]] = {}

    def is_admin(self, user_id: str) -> bool:
        return user_id in self._admins

    def whom_to_ask(self) -> str:
        """The admins by mention (mrkdwn), for someone refused something only they can do."""
        return _mentions(self._admins) if self._admins else NO_ADMINS

    async def may_create(
        self,
        user_id: str,
        team_id: str | None,
        enterprise_id: str | None,
        *,
        view_id: str | None = None,
    ) -> Refusal | None:
        """None if `user_id` may create a replica now; otherwise why not, to tell them.
        `team_id`, `enterprise_id`: the workspace asking (whose user groups are read).
        `view_id`: the form being submitted, which is not counted against its own limit."""
        if self.is_admin(user_id):
            return None
        refusal = await self._creator_refusal(user_id, team_id, enterprise_id)
        if refusal is None:
            refusal = await self._limit_refusal(user_id, view_id)
        if refusal is not None:
            logger.info("%s may not create a replica: %s", user_id, refusal.why.value)
        return refusal

    # -- REPLICA_CREATORS --------------------------------------------------------------------

    async def _creator_refusal(
        self, user_id: str, team_id: str | None, enterprise_id: str | None
    ) -> Refusal | None:
        if self._everyone or user_id in self._creators:
            return None
        keys = [(enterprise_id, team_id, group) for group in self._groups]
        known = {key: self._remembered(key) for key in keys}
        if any(members is not None and user_id in members for members in known.values()):
            return None  # from memory: no I/O before the form opens
        missing = [key for key, members in known.items() if members is None]
        answers = await asyncio.gather(*(self._ask_slack(key) for key in missing))
        if any(members is not None and user_id in members for members in answers):
            return None
        if any(members is None for members in answers):
            # A group Slack could not describe may hold the user: do not guess either way.
            return self._refusal(Why.COULD_NOT_CHECK, COULD_NOT_CHECK)
        return self._refusal(Why.NOT_A_CREATOR, NOT_A_CREATOR)

    def _remembered(self, key: tuple[str | None, str | None, str]) -> Members:
        found = self._members.get(key)
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    async def _ask_slack(self, key: tuple[str | None, str | None, str]) -> Members:
        enterprise_id, team_id, group = key
        client = self._slack.for_workspace(team_id, enterprise_id)
        try:
            response = await asyncio.wait_for(
                client.usergroups_users_list(usergroup=group), GROUP_CHECK_SECONDS
            )
        except SlackApiError as error:
            code = error.response.get("error")
            if code == "missing_scope":
                logger.error(
                    "Slack refused to list user group %s's members (missing_scope): add the "
                    "usergroups:read scope to the Slack app and reinstall it",
                    group,
                )
            else:
                logger.error(
                    "Slack refused to list user group %s's members (%s); is it the id of a "
                    "user group in this workspace (REPLICA_CREATORS)?",
                    group,
                    code or error.response.status_code,
                )
            return None
        except SLACK_ERRORS:
            logger.warning("Could not read user group %s's members", group, exc_info=True)
            return None
        users = response.get("users")
        if not isinstance(users, list):
            logger.warning("Slack listed no members for user group %s: %r", group, response.data)
            return None
        members = frozenset(str(user) for user in users)
        self._members[key] = (self._clock() + GROUP_MEMBERS_TTL_SECONDS, members)
        return members

    # -- REPLICA_MONTHLY_LIMIT ---------------------------------------------------------------

    def monthly_cap(self, user_id: str) -> MonthlyCap | None:
        """The limit the request about to be recorded must fit in, counted again in the
        transaction that records it (two forms submitted at once cannot both slip through);
        None for admins, or without a limit."""
        if self._limit is None or user_id in self._admins:
            return None
        since = month_start(self._now()).isoformat(timespec="milliseconds")
        return MonthlyCap(limit=self._limit, since=since)

    async def _limit_refusal(self, user_id: str, view_id: str | None) -> Refusal | None:
        if self._limit is None:
            return None
        since = month_start(self._now()).isoformat(timespec="milliseconds")  # as created_at
        try:
            # Bounded: a door asks before views.open, and the database thread may be busy.
            made = await asyncio.wait_for(
                self._storage.run(
                    store.count_creates_since, user_id, since, other_than_view=view_id
                ),
                COUNT_SECONDS,
            )
        except (sqlite3.Error, TimeoutError):
            logger.exception("Could not count %s's replicas this month", user_id)
            return self._refusal(Why.COULD_NOT_CHECK, COULD_NOT_CHECK)
        if made < self._limit:
            return None
        return self.limit_reached()

    def limit_reached(self) -> Refusal:
        """What the requester is told once this month's limit is reached."""
        assert self._limit is not None
        first = next_month_start(self._now())
        return self._refusal(
            Why.MONTHLY_LIMIT,
            MONTHLY_LIMIT,
            limit=f"{self._limit} replica{'' if self._limit == 1 else 's'}",
            next_month=f"{first.day} {first:%B %Y}",
        )

    # -- what the requester is told ----------------------------------------------------------

    def _refusal(self, why: Why, text: str, **values: str) -> Refusal:
        by_role = ADMINS_BY_ROLE if self._admins else NO_ADMINS
        return Refusal(
            why=why,
            message=text.format(whom=self.whom_to_ask(), **values),
            field_error=text.format(whom=by_role, **values),
        )
