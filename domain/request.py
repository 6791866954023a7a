"""What a replica request is: the validated form input and where in Slack it came from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

# Mode lives with the table of media types; importing it from here keeps working.
from domain.media import Mode as Mode
from domain.media import extensions_of
from domain.subject import Subject

MAX_NAME_LENGTH = 100
# Tavus's models, newest first. The docs disagree on Tavus's default, so the create always
# names one (`tavus_body`).
MODELS = ("phoenix-4.5", "phoenix-4", "phoenix-3")
DEFAULT_MODEL = "phoenix-4"
# What each model means for the requester, shown under it in the form's picker (Slack shows
# at most 75 characters there).
MODEL_DESCRIPTIONS = {
    "phoenix-4.5": "a watermarked preview in about a minute, then a few hours of tuning",
    "phoenix-4": "ready in a few hours",
    "phoenix-3": "legacy; video only",
}
# The models that cannot train from a photo.
VIDEO_ONLY_MODELS = ("phoenix-3",)


def model_label(model: str) -> str:
    """A model's name as people read it: "Phoenix-4.5"."""
    return model[:1].upper() + model[1:]


IMAGE_EXTENSIONS = extensions_of(Mode.IMAGE)


@dataclass(frozen=True)
class SlackOrigin:
    """Who asked, and where the conversation about the replica belongs."""

    requester_id: str
    channel_id: str
    # The workspace that installed the app (not the requester's own: a Slack Connect guest
    # has another), and its Enterprise Grid org, if any.
    team_id: str | None = None
    thread_ts: str | None = None
    enterprise_id: str | None = None


@dataclass(frozen=True)
class ReplicaRequest:
    """A validated request: exactly the fields of its mode are set."""

    replica_name: str
    mode: Mode
    model_name: str = DEFAULT_MODEL
    train_video_url: str | None = None
    consent_video_url: str | None = None
    train_image_url: str | None = None
    voice_name: str | None = None
    auto_fix_training_image: bool = False
    # Training media shared in Slack: relayed to a public URL, which then fills the media URL.
    slack_file_id: str | None = None
    slack_file_name: str | None = None
    # Who shared that file in Slack: if not the requester, they approve first (they are on
    # camera, or they own the footage).
    slack_file_owner: str | None = None
    slack_file_permalink: str | None = None  # shown to whoever is asked to approve
    # Consent: who is on camera, what the replica is for, and the exact texts shown.
    subject: Subject = field(default_factory=Subject)
    intended_use: str = ""
    # The sentence the form showed to be spoken on camera (video without a consent video), or
    # the image-rights statement (photo); None: nothing spoken is relied on.
    statement: str | None = None
    # The checkbox text the requester ticked, word for word; None when the subject approves.
    attestation: str | None = None
    consent_reference: str | None = None  # e.g. a link to a signed release (outside Slack)

    def approvers(self, requester_id: str) -> tuple[str, ...]:
        """The Slack users who must approve before anything goes to Tavus, in order: a member
        on camera, then the owner of a Slack file; never the requester, never twice."""
        found: list[str] = []
        for user_id in (self.subject.user_id, self.slack_file_owner):
            if user_id and user_id != requester_id and user_id not in found:
                found.append(user_id)
        return tuple(found)

    def with_media_url(self, url: str) -> ReplicaRequest:
        """This request with its training media at `url` (a relayed Slack file)."""
        if self.mode is Mode.VIDEO:
            return replace(self, train_video_url=url)
        return replace(self, train_image_url=url)

    def tavus_body(self, callback_url: str | None) -> dict[str, Any]:
        """The POST /v2/replicas body: only the fields that apply to this mode."""
        body: dict[str, Any] = {"replica_name": self.replica_name, "model_name": self.model_name}
        if self.mode is Mode.VIDEO:
            body["train_video_url"] = self.train_video_url
            if self.consent_video_url:
                body["consent_video_url"] = self.consent_video_url
            if self.voice_name:
                body["voice_name"] = self.voice_name
        else:
            body["train_image_url"] = self.train_image_url
            body["voice_name"] = self.voice_name
            body["auto_fix_training_image"] = self.auto_fix_training_image
        if callback_url:
            body["callback_url"] = callback_url
        return body

    @property
    def media_url(self) -> str:
        url = self.train_video_url if self.mode is Mode.VIDEO else self.train_image_url
        return url or ""


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # e.g. "http://[oops": an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(host) and " " not in value


def mode_for_url(url: str) -> Mode:
    """Guess the training mode from a link's file extension; unknown extensions mean video."""
    path = urlsplit(url).path.lower()
    return Mode.IMAGE if path.endswith(IMAGE_EXTENSIONS) else Mode.VIDEO
