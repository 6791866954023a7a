from __future__ import annotations

from dataclasses import replace

import pytest

from domain.media import MAX_VIDEO_BYTES, Mode
from domain.slack_files import (
    SlackFile,
    human_size,
    is_slack_file_host,
    media_files,
)


def video(**overrides: object) -> dict[str, object]:
    return {
        "id": "F1",
        "name": "intro.mp4",
        "mimetype": "video/mp4",
        "size": 1_000_000,
        "url_private_download": "https://files.slack.com/F1/download/intro.mp4",
        **overrides,
    }


def test_from_slack_reads_a_file_object() -> None:
    found = SlackFile.from_slack(video())
    assert found == SlackFile(
        id="F1",
        name="intro.mp4",
        mimetype="video/mp4",
        size=1_000_000,
        url_private_download="https://files.slack.com/F1/download/intro.mp4",
    )
    assert found.mode is Mode.VIDEO and not found.is_stub and found.problem() is None


@pytest.mark.parametrize("data", [None, "F1", {}, {"id": ""}, {"id": 3}, [video()]])
def test_from_slack_rejects_what_is_not_a_file(data: object) -> None:
    assert SlackFile.from_slack(data) is None


def test_a_slack_connect_stub_is_a_stub() -> None:
    stub = SlackFile.from_slack({"id": "F2", "mode": "file_access", "file_access": "x"})
    assert stub is not None and stub.is_stub and stub.mode is None


@pytest.mark.parametrize(
    ("mimetype", "size", "problem"),
    [
        ("video/mp4", MAX_VIDEO_BYTES, None),
        ("video/quicktime", 10, None),
        ("video/webm", 10, None),
        ("image/jpeg", 10, None),
        ("image/png", 10, None),
        ("video/mp4", MAX_VIDEO_BYTES + 1, "clip is 750.0 MB. Tavus trains from .mp4, .webm"),
        ("video/x-msvideo", 10, "clip is a video/x-msvideo video. Tavus trains from .mp4"),
        ("image/gif", 10, "clip is a image/gif image. Tavus trains from JPG or PNG"),
        ("application/pdf", 10, "clip is neither a video nor a photo."),
    ],
)
def test_problem_states_the_requirement(mimetype: str, size: int, problem: str | None) -> None:
    found = SlackFile(id="F1", name="clip", mimetype=mimetype, size=size).problem()
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


@pytest.mark.parametrize("flag", [True, False, None, "true", 1])
def test_only_a_true_is_external_marks_an_external_file(flag: object) -> None:
    found = SlackFile.from_slack(video(is_external=flag, external_type="gdrive"))
    assert found is not None and found.is_external is (flag is True)


def test_an_external_file_is_refused_whatever_its_type() -> None:
    for mimetype in ("video/mp4", "image/png", "application/pdf"):
        found = SlackFile(id="F1", name="intro.mp4", mimetype=mimetype, is_external=True)
        assert found.problem() == (
            "intro.mp4 is kept outside Slack (for example in Google Drive), so the bot cannot "
            "fetch it: upload the file itself to Slack, or paste a link Tavus can download it "
            "from."
        )


def test_metadata_keeps_an_external_file_external() -> None:
    # Upload prompts and forms store files as metadata: the refusal must survive the trip.
    external = SlackFile.from_slack(video(is_external=True))
    hosted = SlackFile.from_slack(video())
    assert external is not None and hosted is not None
    assert SlackFile.from_slack(external.to_metadata()) == replace(
        external, url_private_download=None
    )
    assert "is_external" not in hosted.to_metadata()  # private_metadata is small


API = "https://slack.com/api/"


@pytest.mark.parametrize(
    ("url", "api"),
    [
        ("https://files.slack.com/files-pri/T1-F1/download/a.mp4", API),
        ("https://FILES.Slack.com/files-pri/T1-F1/a.mp4", API),
        ("https://files.slack.com:443/x", API),
        ("https://files-origin.slack.com/x", API),
        ("https://slack.com/x", API),
        ("https://slack-files.com/T1-F1-abc", API),
        ("https://files.slack-gov.com/x", "https://slack-gov.com/api/"),
        ("https://files.slack-gov.com/x", API),  # one bot, either Slack
        ("http://127.0.0.1:8123/files-pri/x", "http://127.0.0.1:8123/api/"),
        ("https://slack-proxy.example.com/files/x", "https://slack-proxy.example.com/api/"),
        ("https://slack-proxy.example.com:443/x", "https://slack-proxy.example.com/api/"),
    ],
)
def test_slack_file_hosts(url: str, api: str) -> None:
    assert is_slack_file_host(url, api)


@pytest.mark.parametrize(
    ("url", "api"),
    [
        ("http://files.slack.com/x", API),  # the token never travels in the clear
        ("https://files.slack.com:8443/x", API),
        ("https://evilslack.com/x", API),
        ("https://files.slack.com.evil.example/x", API),
        ("https://slack.com.evil.example/x", API),
        ("https://files.slack.com./x", API),
        ("https://files.slack.com@evil.example/x", API),
        ("https://user:pw@files.slack.com/x", API),
        ("https://evil.example\\@files.slack.com/x", API),
        ("https://slack-edge.com/x", API),
        ("https://drive.google.com/file/d/1/view", API),
        ("http://127.0.0.1:8124/healthz", "http://127.0.0.1:8123/api/"),  # another port
        ("http://localhost:8123/x", "http://127.0.0.1:8123/api/"),  # another name
        ("https://127.0.0.1:8123/x", "http://127.0.0.1:8123/api/"),  # another scheme
        ("https://slack-proxy.example.com:8443/x", "https://slack-proxy.example.com/api/"),
        ("file:///etc/passwd", API),
        ("/files-pri/x", API),
        ("", API),
        ("https://[::1/x", API),  # not a URL at all
    ],
)
def test_not_slack_file_hosts(url: str, api: str) -> None:
    assert not is_slack_file_host(url, api)


def test_media_files_keeps_videos_photos_and_stubs() -> None:
    files = media_files(
        [
            video(),
            {"id": "F2", "name": "a.pdf", "mimetype": "application/pdf"},
            {"id": "F3", "mode": "file_access"},
            {"id": "F4", "name": "b.png", "mimetype": "image/png"},
            "junk",
        ]
    )
    assert [f.id for f in files] == ["F1", "F3", "F4"]
    assert media_files(None) == [] and media_files({"id": "F1"}) == []


@pytest.mark.parametrize(
    ("size", "text"),
    [(999, "999 bytes"), (1500, "1.5 KB"), (12_300_000, "12.3 MB"), (2_500_000_000, "2.5 GB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_label_shows_name_and_size() -> None:
    assert SlackFile(id="F1", name="a.mp4", size=2_000_000).label == "a.mp4 (2.0 MB)"
    assert SlackFile(id="F1").label == "F1"
