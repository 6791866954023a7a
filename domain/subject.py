"""Who is on camera: the person a replica clones, as the request form names them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_SUBJECT_NAME_LENGTH = 100


class SubjectKind(StrEnum):
    ME = "me"  # the requester themselves
    MEMBER = "member"  # someone in this workspace: they approve before anything is sent
    OUTSIDE = "outside"  # someone outside Slack: the requester attests to their written consent


@dataclass(frozen=True)
class Subject:
    """The person on camera. `user_id`: their Slack id (ME: the requester's, MEMBER: the
    member's). `name`: how the consent sentence named them: the Slack real name where it was
    known (ME, MEMBER), the full name the requester gave (OUTSIDE); None if unknown."""

    kind: SubjectKind = SubjectKind.ME
    user_id: str | None = None
    name: str | None = None

    def describe(self) -> str:
        """The subject as Slack mrkdwn for people: a mention, or the name given (unescaped)."""
        if self.user_id:
            return f"<@{self.user_id}>"
        return self.name or "someone outside Slack"
