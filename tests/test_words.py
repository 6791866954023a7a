"""Words for users: what Slack users are shown (replies, prompts, form errors, the form) names no
setting, no API field and no HTTP status. Those are for whoever runs the bot, in its log.

The texts are collected from the modules that write them: their sentence constants, the
reasons for every kind of Tavus failure, every RelayError the relay raises (for real, against
the fake Slack), the form's errors and the rendered prompt and form. Tavus's own words (shown
as "Tavus said: …") are outside text and may say anything; the cases here give neutral ones.
"""

from __future__ import annotations

import errno
import inspect
import itertools
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

import blocks.replica_form_consent
import blocks.replica_modal
import blocks.upload_prompt
import domain.form
import domain.media
import domain.request
import handlers.file_shares
import handlers.replica_modal
import media_relay.download
import replicas.reasons
import settings
import tavus.errors
from blocks.replica_modal import ModalContext, build_replica_modal
from blocks.upload_prompt import prompts_off_done, upload_prompt
from domain.form import FormDraft, Unavailable, validate
from domain.request import Mode
from domain.slack_files import SlackFile
from domain.subject import SubjectKind
from media_relay.download import FILES_INFO_ERRORS, RelayError, disk_error, files_info_message
from media_relay.relay import MediaRelay
from slack_access.clients import SlackClients
from slack_access.errors import CREDENTIAL_ERRORS
from storage.database import Storage
from tavus.errors import (
    TavusAuthError,
    TavusError,
    TavusProtocolError,
    TavusRejectedError,
    TavusServerError,
    TavusUnreachableError,
)
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack
from tests.media_relay.test_relay import make_relay, new_request

# -- what users must not be shown -------------------------------------------------------------

LOG_LEVEL_NAMES = set(settings.LOG_LEVELS)
# Every environment variable the settings read: the quoted upper-case names in their source.
ENV_VARS = sorted(
    set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', inspect.getsource(settings))) - LOG_LEVEL_NAMES
)
API_FIELDS = (
    "voice_name",
    "replica_name",
    "model_name",
    "replica_id",
    "auto_fix_training_image",
    "face_id",
)
FORBIDDEN = [
    *(re.compile(rf"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_])") for name in ENV_VARS),
    # An HTTP status: a three-digit number from 100 to 599, unless it counts something (a
    # length limit in characters, a size, a photo's pixels) or is part of a decimal.
    re.compile(
        r"(?<![×.,])\b[1-5]\d\d\b(?![.,]\d)(?!\s*(?:characters|[KMG]B\b|bytes|days|×|px\b))"
    ),
    re.compile(r"_url\b", re.IGNORECASE),  # PUBLIC_URL, train_video_url, callback_url…
    *(re.compile(rf"\b{field}\b") for field in API_FIELDS),
    re.compile(r"\bHTTPS?\b"),  # "HTTP 500" (a link's lower-case http:// scheme is fine)
]


def forbidden(text: str) -> list[str]:
    return [found.group(0) for pattern in FORBIDDEN if (found := pattern.search(text))]


def test_the_env_vars_are_found_in_the_settings() -> None:
    for name in ("PUBLIC_URL", "TAVUS_API_KEY", "SLACK_BOT_TOKEN", "UPLOAD_PROMPTS", "PORT"):
        assert name in ENV_VARS
    assert "INFO" not in ENV_VARS


@pytest.mark.parametrize(
    "text",
    [
        "ask whoever runs the bot to set PUBLIC_URL",
        "Tavus refused the request (it answered 403 Forbidden)",
        "Tavus answered HTTP 500",
        "Slack would not hand over the file (404)",
        "Pick a voice_name",
        "train_video_url is missing",
        "Check REPLICA_ADMINS",
        "the callback_url",
    ],
)
def test_the_patterns_catch_what_users_must_not_see(text: str) -> None:
    assert forbidden(text)


@pytest.mark.parametrize(
    "text",
    [
        "Keep the name to 100 characters (this one has 1000).",
        "A public JPG or PNG of at least 512×512.",
        "Tavus trains from .mp4, .webm or .mov videos up to 750 MB",
        "long.mp4 is 123.4 MB.",
        "Use a full http:// or https:// link, e.g. https://example.com/clip.mp4",
        "Ask them, then submit it again within 999 days.",
        "a public URL that Tavus can download them from",
    ],
)
def test_the_patterns_leave_plain_words_alone(text: str) -> None:
    assert forbidden(text) == []


# -- collecting the texts ----------------------------------------------------------------------

MODULES: tuple[ModuleType, ...] = (
    blocks.upload_prompt,
    blocks.replica_modal,
    blocks.replica_form_consent,
    handlers.file_shares,
    handlers.replica_modal,
    replicas.reasons,
    media_relay.download,
    domain.form,
    domain.request,
    domain.media,
    tavus.errors,
)


def sentences(value: Any) -> Iterator[str]:
    """The sentences in a module-level constant: a string with a space, or such strings in a
    dict's values or a tuple."""
    if isinstance(value, str):
        if " " in value:
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from sentences(item)
    elif isinstance(value, tuple):
        for item in value:
            yield from sentences(item)


def constants() -> list[tuple[str, str]]:
    found = []
    for module in MODULES:
        for name, value in vars(module).items():
            if name.isupper() and not name.startswith("_"):
                found += [(f"{module.__name__}.{name}", text) for text in sentences(value)]
    return found


def test_the_sentence_constants_are_for_users() -> None:
    found = constants()
    assert len(found) > 30  # the collection finds them
    assert [(where, text) for where, text in found if forbidden(text)] == []


HTML_PAGE = "<html><head><title>403 Forbidden</title></head><body>Access denied</body></html>"
TAVUS_ERRORS: list[TavusError] = [
    TavusAuthError("x", status_code=401, body='{"message": "Invalid access token"}'),
    TavusAuthError("x", status_code=401, body=""),
    TavusRejectedError("x", status_code=403, body=HTML_PAGE),
    TavusRejectedError("x", status_code=403, body="Forbidden"),
    TavusRejectedError("x", status_code=404, body=""),
    TavusRejectedError("x", status_code=404, body="404 page not found"),
    TavusRejectedError("x", status_code=404, body='{"detail": "Not Found"}'),
    TavusRejectedError("x", status_code=400, body='{"error": "The replica is too short"}'),
    TavusRejectedError("x", status_code=400, body="{not json"),
    TavusRejectedError("x", status_code=429, body="<html>slow down</html>"),
    TavusServerError("x", status_code=500, body="upstream exploded"),
    TavusServerError("x", status_code=502, body=HTML_PAGE),
    TavusServerError("x", status_code=503, body='{"error": "busy"}'),
    TavusProtocolError("x", status_code=200, body="not json"),
    TavusUnreachableError("x", request_sent=True),
    TavusUnreachableError("x", request_sent=False),
]


def reasons_for(error: TavusError) -> list[str]:
    """What the requester is told for this failure, as replicas/workflow.py chooses."""
    if isinstance(error, TavusRejectedError):
        return [replicas.reasons.refused(error)]
    if error.may_have_taken_effect:
        return [replicas.reasons.ambiguous(error)]
    return [replicas.reasons.TAVUS_UNREACHABLE]


@pytest.mark.parametrize("error", TAVUS_ERRORS, ids=lambda e: f"{type(e).__name__}-{e.status_code}")
def test_what_the_requester_is_told_when_tavus_fails(error: TavusError) -> None:
    for text in reasons_for(error):
        assert text and forbidden(text) == [], text


def test_a_refusal_without_tavus_words_names_whom_to_ask() -> None:
    text = replicas.reasons.refused(TavusRejectedError("x", status_code=403, body=HTML_PAGE))
    assert "whoever runs the bot" in text and "nothing was created" in text
    assert "403" not in text and "Forbidden" not in text and "<" not in text


def test_consent_endings_are_for_users() -> None:
    texts = [
        replicas.reasons.declined("subject"),
        replicas.reasons.declined("file_owner"),
        replicas.reasons.expired(["U2"], 7),
        replicas.reasons.expired(["U2", "U3"], 999),
        replicas.reasons.WITHDRAWN,
        replicas.reasons.RESTARTED,
        replicas.reasons.NO_REPLICA_LISTED,
    ]
    assert [text for text in texts if forbidden(text)] == []


# -- the relay's refusals, raised for real ---------------------------------------------------


_views = itertools.count(1)


async def relay_error(relay: MediaRelay, storage: Storage, file_id: str) -> RelayError:
    with pytest.raises(RelayError) as raised:
        await relay.relay(file_id, await new_request(storage, view_id=f"V{next(_views)}"))
    return raised.value


async def test_every_relay_error_is_for_users(
    tmp_path: Path, storage: Storage, fake_slack: FakeSlack
) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake_slack.url}/api/")
    relay = make_relay(tmp_path / "media", storage, client)
    errors: list[RelayError] = []
    try:
        errors.append(await relay_error(relay, storage, "FMISSING"))  # files.info: not found
        refused = [
            fake_slack.add_file("wave.gif", "image/gif", b"data"),
            fake_slack.add_file("big.mp4", "video/mp4", b"data", size=800_000_000),
            fake_slack.add_file("drive.mp4", "video/mp4", b"data", external=True),
        ]
        for file in refused:
            errors.append(await relay_error(relay, storage, file["id"]))
        # No download link.
        file = fake_slack.add_file("jane.mp4", "video/mp4", b"data")
        info = fake_slack.files[file["id"]].info
        info.pop("url_private_download", None)
        info.pop("url_private", None)
        errors.append(await relay_error(relay, storage, file["id"]))
        # Slack answers the download with 404.
        file = fake_slack.add_file("jane.mp4", "video/mp4", b"data")
        info = fake_slack.files[file["id"]].info
        info["url_private_download"] = info["url_private_download"].replace(file["id"], "FGONE")
        errors.append(await relay_error(relay, storage, file["id"]))
        # An empty file.
        file = fake_slack.add_file("empty.mp4", "video/mp4", b"")
        errors.append(await relay_error(relay, storage, file["id"]))
        # A redirect loop, then a redirect that leaves Slack.
        file = fake_slack.add_file("jane.mp4", "video/mp4", b"data")
        fake_slack.download_redirect_to = file["url_private_download"]
        errors.append(await relay_error(relay, storage, file["id"]))
        fake_slack.download_redirect_to = "https://elsewhere.example/jane.mp4"
        errors.append(await relay_error(relay, storage, file["id"]))
        fake_slack.download_redirect_to = None
        # Slack's login page instead of the file.
        fake_slack.login_page_downloads = True
        errors.append(await relay_error(relay, storage, file["id"]))
        fake_slack.login_page_downloads = False
    finally:
        await relay.aclose()
    # Nobody listening where files.info, or the download, should be.
    unreachable = AsyncWebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:1/api/")
    for clients in (SlackClients(unreachable), SlackClients(client)):
        relay = MediaRelay(
            media_dir=tmp_path / "media",
            storage=storage,
            slack=clients,
            public_url="https://bot.example.test",
            slack_api_url="http://127.0.0.1:1/api/",
        )
        file = fake_slack.add_file("jane.mp4", "video/mp4", b"data")
        fake_slack.files[file["id"]].info["url_private_download"] = "http://127.0.0.1:1/jane.mp4"
        try:
            errors.append(await relay_error(relay, storage, file["id"]))
        finally:
            await relay.aclose()
    # No public URL to hand Tavus.
    relay = make_relay(tmp_path / "media", storage, client, public_url=None)
    try:
        errors.append(await relay_error(relay, storage, file["id"]))
    finally:
        await relay.aclose()

    messages = [error.user_message for error in errors]
    assert len(set(messages)) == len(messages) == 13  # each a different failure
    told = [replicas.reasons.relay_failed(error) for error in errors]
    assert [text for text in told if forbidden(text)] == []
    # The operator's detail stays in the error itself, for the log.
    assert any("HTTP 404" in str(error) for error in errors)


@pytest.mark.parametrize(
    "code", sorted({*FILES_INFO_ERRORS, *CREDENTIAL_ERRORS, "fatal_error", "internal_error", ""})
)
def test_what_files_info_refusals_tell_the_requester(code: str) -> None:
    text = files_info_message(code)
    assert forbidden(text) == []
    assert code == "" or code not in text  # Slack's error code is for the log


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_disk_errors_are_for_users(number: int) -> None:
    error = disk_error(OSError(number, "disk trouble"))
    assert forbidden(error.user_message) == []
    assert "whoever runs the bot" in error.user_message


# -- the form's errors, the form and the prompt ----------------------------------------------

VIDEO = SlackFile(id="F1", name="jane.mp4", mimetype="video/mp4", size=10)
GIF = SlackFile(id="F2", name="wave.gif", mimetype="image/gif", size=10)
BIG = SlackFile(id="F3", name="long.mp4", mimetype="video/mp4", size=800_000_000)
DRIVE = SlackFile(id="F4", name="drive.mp4", mimetype="video/mp4", is_external=True)
PHOTO = SlackFile(id="F5", name="jane.png", mimetype="image/png", size=10)
DRAFTS = [
    FormDraft(),
    FormDraft(mode=Mode.IMAGE, model_name="phoenix-3"),
    FormDraft(model_name="phoenix-9", train_video_url="ftp://x", consent_video_url="nope"),
    FormDraft(mode=Mode.IMAGE, train_image_url="jane.png", voice_name="gandalf"),
    FormDraft(replica_name="x" * 1000, intended_use="y" * 1000),
    FormDraft(subject_kind=SubjectKind.MEMBER),
    FormDraft(subject_kind=SubjectKind.MEMBER, subject_user_id="U1"),
    FormDraft(subject_kind=SubjectKind.MEMBER, subject_user_id="UBOT"),
    FormDraft(subject_kind=SubjectKind.MEMBER, subject_user_id="UGONE"),
    FormDraft(subject_kind=SubjectKind.MEMBER, subject_user_id="UODD"),
    FormDraft(subject_kind=SubjectKind.OUTSIDE),
    FormDraft(subject_kind=SubjectKind.OUTSIDE, subject_name="z" * 1000, consent_reference="x"),
    FormDraft(slack_file_id="F9"),
    FormDraft(slack_file_id="F5"),
    FormDraft(slack_file_id="F2", mode=Mode.IMAGE),
    FormDraft(slack_file_id="F3"),
    FormDraft(slack_file_id="F4"),
]


def test_every_form_error_is_for_users() -> None:
    told: list[str] = []
    for draft in DRAFTS:
        errors = validate(
            draft,
            frozenset({"anna"}),
            (VIDEO, GIF, BIG, DRIVE, PHOTO),
            requester_id="U1",
            unavailable={
                "UBOT": Unavailable.BOT.value,
                "UGONE": Unavailable.DEACTIVATED.value,
                "UODD": "something new",
            },
        )
        assert isinstance(errors, dict), draft
        told += errors.values()
    assert len(set(told)) > 20
    assert [text for text in told if forbidden(text)] == []
    assert "Phoenix-3 cannot train from a photo: choose Phoenix-4.5 or Phoenix-4." in told


def texts_in(data: Any) -> Iterator[str]:
    """Every `text` string in rendered blocks."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from texts_in(value)
    elif isinstance(data, list):
        for item in data:
            yield from texts_in(item)


@pytest.mark.parametrize("can_relay", [True, False])
@pytest.mark.parametrize("mode", list(Mode))
def test_the_form_is_for_users(mode: Mode, can_relay: bool) -> None:
    context = ModalContext(
        channel_id="C1",
        requester_id="U1",
        requester_name="Jane Doe",
        files=[f.to_metadata() for f in (VIDEO, PHOTO)],
        can_relay=can_relay,
    )
    for kind in SubjectKind:
        view = build_replica_modal(
            replace(FormDraft(mode=mode), subject_kind=kind), context, form_key="k"
        )
        shown = list(texts_in(view.to_dict()["blocks"]))
        assert shown and [text for text in shown if forbidden(text)] == []


@pytest.mark.parametrize("can_relay", [True, False])
@pytest.mark.parametrize(
    "files", [[VIDEO], [VIDEO, PHOTO], [GIF], [BIG, DRIVE], [GIF, VIDEO]], ids=str
)
def test_the_upload_prompt_is_for_users(files: list[SlackFile], can_relay: bool) -> None:
    message = upload_prompt(files, "C1:1.2", can_relay=can_relay).as_kwargs()
    shown = [message["text"], *texts_in(message["blocks"])]
    assert [text for text in shown if forbidden(text)] == []
    done = prompts_off_done().as_kwargs()
    assert forbidden(done["text"]) == []
