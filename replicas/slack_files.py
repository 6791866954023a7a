"""Files shared in Slack that can train a replica: what Slack tells us about them and whether
Tavus will take them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from replicas.request import Mode

MAX_VIDEO_BYTES = 750 * 1000 * 1000  # Tavus: "≤ 750 MB"
VIDEO_TYPES = {"video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov"}
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png"}
VIDEO_REQUIREMENT = "Tavus trains from .mp4, .webm or .mov videos up to 750 MB"
IMAGE_REQUIREMENT = "Tavus trains from JPG or PNG photos"


@dataclass(frozen=True)
class SlackFile:
    """A file from a Slack message or `files.info`. A Slack Connect stub has only its id."""

    id: str
    name: str = ""
    mimetype: str = ""
    size: int | None = None
    url_private_download: str | None = None

    @classmethod
    def from_slack(cls, data: Any) -> SlackFile | None:
        """From Slack's file object; None if it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            return None
        size = data.get("size")
        url = data.get("url_private_download") or data.get("url_private")
        return cls(
            id=data["id"],
            name=str(data.get("name") or data.get("title") or ""),
            mimetype=str(data.get("mimetype") or "").lower(),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            url_private_download=url if isinstance(url, str) and url else None,
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

    def problem(self) -> str | None:
        """Why Tavus would refuse this file (checked before downloading it), or None."""
        name = self.name or "This file"
        if self.mode is Mode.VIDEO:
            if self.mimetype not in VIDEO_TYPES:
                return f"{name} is a {self.mimetype} video. {VIDEO_REQUIREMENT}."
            if self.size is not None and self.size > MAX_VIDEO_BYTES:
                return f"{name} is {human_size(self.size)}. {VIDEO_REQUIREMENT}."
            return None
        if self.mode is Mode.IMAGE:
            if self.mimetype not in IMAGE_TYPES:
                return f"{name} is a {self.mimetype} image. {IMAGE_REQUIREMENT}."
            return None
        return f"{name} is neither a video nor a photo."

    def to_metadata(self) -> dict[str, Any]:
        """A compact form for a modal's private_metadata (no URL: it is looked up fresh)."""
        return {"id": self.id, "name": self.name, "mimetype": self.mimetype, "size": self.size}


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
