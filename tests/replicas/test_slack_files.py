from __future__ import annotations

import pytest

from replicas.request import Mode
from replicas.slack_files import MAX_VIDEO_BYTES, SlackFile, human_size, media_files


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
