"""Files shared in Slack that can train a replica: what Slack tells us about them and whether
Tavus will take them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from domain.media import (
    IMAGE_REQUIREMENT,
    MAX_VIDEO_BYTES,
    VIDEO_REQUIREMENT,
    Mode,
    media_type,
)

# Where Slack serves file bytes: slack.com (files.slack.com; files-origin.slack.com on
# Enterprise Grid), GovSlack's slack-gov.com, and slack-files.com, Slack's file domain, where
# some url_private links redirect.
SLACK_FILE_DOMAINS = ("slack.com", "slack-gov.com", "slack-files.com")


@dataclass(frozen=True)
class SlackFile:
    """A file from a Slack message or `files.info`. A Slack Connect stub has only its id."""

    id: str
    name: str = ""
    mimetype: str = ""
    size: int | None = None
    url_private_download: str | None = None
    # Only a link to a file kept elsewhere (Google Drive, Dropbox…): Slack has no bytes to give.
    is_external: bool = False
    owner: str | None = None  # the Slack user who shared it
    permalink: str | None = None  # where people can see it in Slack

    @classmethod
    def from_slack(cls, data: Any) -> SlackFile | None:
        """From Slack's file object; None if it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            return None
        size = data.get("size")
        url = data.get("url_private_download") or data.get("url_private")
        owner, permalink = data.get("user"), data.get("permalink")
        return cls(
            id=data["id"],
            name=str(data.get("name") or data.get("title") or ""),
            mimetype=str(data.get("mimetype") or "").lower(),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            url_private_download=url if isinstance(url, str) and url else None,
            is_external=data.get("is_external") is True,
            owner=owner if isinstance(owner, str) and owner else None,
            permalink=permalink if isinstance(permalink, str) and permalink else None,
        )

    @property
    def is_stub(self) -> bool:
        """Slack Connect hides the details until `files.info` is called."""
        return not self.mimetype

    @property
    def mode(self) -> Mode | None:
        """The training mode this file suggests, or None if it is no video or photo."""
        if self.mimetype.startswith("video/"):
            return Mode.VIDEO
        if self.mimetype.startswith("image/"):
            return Mode.IMAGE
        return None

    @property
    def label(self) -> str:
        """How the file is shown to people: its name and size."""
        name = self.name or self.id
        return f"{name} ({human_size(self.size)})" if self.size is not None else name

    @property
    def is_type_tavus_takes(self) -> bool:
        """Whether Tavus trains from files of this MIME type (size aside)."""
        media = media_type(self.mimetype)
        return media is not None and media.mode is self.mode

    def problem(self) -> str | None:
        """Why Tavus would refuse this file (checked before downloading it), or None."""
        name = self.name or "This file"
        if self.is_external:
            return (
                f"{name} is kept outside Slack (for example in Google Drive), so the bot cannot "
                "fetch it: upload the file itself to Slack, or paste a link Tavus can download "
                "it from."
            )
        if self.mode is Mode.VIDEO:
            if not self.is_type_tavus_takes:
                return f"{name} is a {self.mimetype} video. {VIDEO_REQUIREMENT}."
            if self.size is not None and self.size > MAX_VIDEO_BYTES:
                return f"{name} is {human_size(self.size)}. {VIDEO_REQUIREMENT}."
            return None
        if self.mode is Mode.IMAGE:
            if not self.is_type_tavus_takes:
                return f"{name} is a {self.mimetype} image. {IMAGE_REQUIREMENT}."
            return None
        return f"{name} is neither a video nor a photo."

    def to_metadata(self) -> dict[str, Any]:
        """A compact form for a modal's private_metadata (no URL: it is looked up fresh)."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "mimetype": self.mimetype,
            "size": self.size,
        }
        if self.is_external:  # only when set: private_metadata holds 3000 characters
            data["is_external"] = True
        if self.owner:
            data["user"] = self.owner
        if self.permalink:
            data["permalink"] = self.permalink
        return data


def is_slack_file_host(url: str | httpx.URL, slack_api_url: str) -> bool:
    """Whether `url` is a Slack file host, the only kind of place the bot token may go: https on
    one of SLACK_FILE_DOMAINS or a subdomain (default port), or the very origin (scheme, host,
    port) of SLACK_API_URL, which GovSlack, proxies and the tests set.

    httpx parses the URL here and when it builds the request, and hands the transport its own
    normalised spelling: no second parser gets to read the host differently.
    """
    try:
        target, api = httpx.URL(url), httpx.URL(slack_api_url)
    except httpx.InvalidURL:
        return False
    if target.userinfo:  # Slack's links never carry credentials; a crafted one might
        return False
    if _origin(target) == _origin(api):
        return True
    host = target.raw_host.decode("ascii")
    return (
        target.scheme == "https"
        and target.port in (None, 443)
        and any(host == domain or host.endswith("." + domain) for domain in SLACK_FILE_DOMAINS)
    )


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.raw_host, url.port or default


def human_size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    amount = float(size)
    for unit in ("KB", "MB", "GB"):
        amount /= 1000
        if amount < 1000 or unit == "GB":
            break
    return f"{amount:.1f} {unit}"


def media_files(files: Any) -> list[SlackFile]:
    """The files of a message that may be training media: videos, photos, and stubs whose
    type only `files.info` can tell."""
    found = [SlackFile.from_slack(item) for item in files] if isinstance(files, list) else []
    return [f for f in found if f is not None and (f.is_stub or f.mode is not None)]
