"""domain.form (prefill and validation), domain.request and domain.consent."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from domain.consent import (
    ATTESTATION_ME_PHOTO,
    ATTESTATION_ME_VIDEO,
    ATTESTATION_OUTSIDE,
    IMAGE_RIGHTS_STATEMENT,
    NAME_PLACEHOLDER,
    consent_sentence,
)
from domain.form import (
    MAX_INTENDED_USE_LENGTH,
    Field,
    FormDraft,
    Unavailable,
    draft_from_command_text,
    unavailable_reason,
    validate,
)
from domain.request import (
    DEFAULT_MODEL,
    MAX_NAME_LENGTH,
    MODEL_DESCRIPTIONS,
    MODELS,
    Mode,
    ReplicaRequest,
    is_http_url,
    mode_for_url,
    model_label,
)
from domain.slack_files import SlackFile
from domain.states import State
from domain.subject import MAX_SUBJECT_NAME_LENGTH, Subject, SubjectKind

VOICES = frozenset({"anna", "james", "julia"})
VIDEO_URL = "https://media.example/jane-training.mp4"
CONSENT_URL = "https://media.example/jane-consent.mp4"
IMAGE_URL = "https://media.example/jane.png"
CALLBACK = "https://bot.example/tavus/callback/tok"

REQUESTER = "U1"
USE = "Sales demos"
VALID_VIDEO = FormDraft(
    replica_name="Jane Doe",
    mode=Mode.VIDEO,
    train_video_url=VIDEO_URL,
    consent=True,
    intended_use=USE,
)
VALID_IMAGE = FormDraft(
    replica_name="Jane Doe",
    mode=Mode.IMAGE,
    train_image_url=IMAGE_URL,
    voice_name="anna",
    consent=True,
    intended_use=USE,
)
MEMBER = replace(VALID_VIDEO, consent=False, subject_kind=SubjectKind.MEMBER, subject_user_id="U2")
OUTSIDE = replace(
    VALID_VIDEO,
    consent=False,
    subject_kind=SubjectKind.OUTSIDE,
    subject_name="Alex Rivera",
    outside_consent=True,
)
# What the form looked up: U2's real name; UBOT is a bot, UGONE deactivated.
MEMBER_NAMES = {"U2": "Sam Lee"}
UNAVAILABLE = {"UBOT": Unavailable.BOT.value, "UGONE": Unavailable.DEACTIVATED.value}


def checked(
    draft: FormDraft, voices: frozenset[str] = VOICES, files: tuple[SlackFile, ...] = ()
) -> ReplicaRequest | dict[str, str]:
    return validate(
        draft,
        voices,
        files,
        requester_id=REQUESTER,
        requester_name="Jane Doe",
        member_names=MEMBER_NAMES,
        unavailable=UNAVAILABLE,
    )


def errors_for(draft: FormDraft, voices: frozenset[str] = VOICES) -> dict[str, str]:
    result = checked(draft, voices)
    assert isinstance(result, dict), result
    return result


def request_for(
    draft: FormDraft, voices: frozenset[str] = VOICES, files: tuple[SlackFile, ...] = ()
) -> ReplicaRequest:
    result = checked(draft, voices, files)
    assert isinstance(result, ReplicaRequest), result
    return result


# -- draft_from_command_text -------------------------------------------------------------------


def test_empty_text_is_an_empty_video_draft() -> None:
    assert draft_from_command_text("") == FormDraft()
    assert FormDraft().mode is Mode.VIDEO
    assert FormDraft().model_name == DEFAULT_MODEL


def test_plain_name() -> None:
    draft = draft_from_command_text("  Jane   Doe ")

    assert draft == FormDraft(replica_name="Jane Doe")


@pytest.mark.parametrize("ext", [".mp4", ".webm", ".mov", ".m4v", ".MP4"])
def test_video_link_sets_video_mode(ext: str) -> None:
    url = f"https://media.example/clip{ext}"

    draft = draft_from_command_text(url)

    assert draft == FormDraft(mode=Mode.VIDEO, train_video_url=url)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg", ".JPG"])
def test_image_link_sets_image_mode(ext: str) -> None:
    url = f"https://media.example/face{ext}"

    draft = draft_from_command_text(url)

    assert draft == FormDraft(mode=Mode.IMAGE, train_image_url=url)


def test_image_extension_is_read_from_the_path_not_the_query() -> None:
    draft = draft_from_command_text("https://bucket.example/face.png?X-Amz-Signature=abc.mp4")

    assert draft.mode is Mode.IMAGE
    assert draft.train_image_url == "https://bucket.example/face.png?X-Amz-Signature=abc.mp4"


@pytest.mark.parametrize(
    "url", ["https://media.example/download?id=42", "https://media.example/clip.gif"]
)
def test_unknown_extension_means_video(url: str) -> None:
    draft = draft_from_command_text(url)

    assert draft.mode is Mode.VIDEO
    assert draft.train_video_url == url
    assert draft.train_image_url == ""


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("<https://media.example/y.mp4>", "https://media.example/y.mp4"),
        ("<https://media.example/y.mp4|media.example/y.mp4>", "https://media.example/y.mp4"),
        ("<https://media.example/y.mp4|label>", "https://media.example/y.mp4"),
    ],
)
def test_slack_wrapped_links(text: str, url: str) -> None:
    draft = draft_from_command_text(text)

    assert draft.train_video_url == url
    assert draft.replica_name == ""


def test_slack_wrapped_image_link() -> None:
    draft = draft_from_command_text("<https://media.example/face.jpg|face.jpg>")

    assert draft.mode is Mode.IMAGE
    assert draft.train_image_url == "https://media.example/face.jpg"


def test_name_and_link_together() -> None:
    draft = draft_from_command_text("Jane <https://media.example/y.mp4> Doe")

    assert draft == FormDraft(
        replica_name="Jane Doe", mode=Mode.VIDEO, train_video_url="https://media.example/y.mp4"
    )


def test_link_label_with_spaces_does_not_leak_into_the_name() -> None:
    draft = draft_from_command_text("Jane <https://media.example/y.mp4|my training clip>")

    assert draft == FormDraft(
        replica_name="Jane", mode=Mode.VIDEO, train_video_url="https://media.example/y.mp4"
    )


def test_name_and_image_link_together() -> None:
    draft = draft_from_command_text("Jane https://media.example/face.png")

    assert draft.replica_name == "Jane"
    assert draft.mode is Mode.IMAGE
    assert draft.train_image_url == "https://media.example/face.png"
    assert draft.train_video_url == ""


def test_non_http_words_stay_in_the_name() -> None:
    draft = draft_from_command_text("ftp://media.example/y.mp4 Jane")

    assert draft.replica_name == "ftp://media.example/y.mp4 Jane"
    assert draft.train_video_url == ""


def test_name_is_truncated_to_the_maximum() -> None:
    draft = draft_from_command_text("x" * 250)

    assert draft.replica_name == "x" * MAX_NAME_LENGTH
    assert MAX_NAME_LENGTH == 100


def test_malformed_bracketed_link_does_not_crash_prefill() -> None:
    draft = draft_from_command_text("Jane http://[oops")

    assert draft.train_video_url == ""


# -- validate: errors --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name(name: str) -> None:
    errors = errors_for(replace(VALID_VIDEO, replica_name=name))

    assert set(errors) == {"replica_name"}


def test_name_too_long() -> None:
    errors = errors_for(replace(VALID_VIDEO, replica_name="n" * 101))

    assert set(errors) == {"replica_name"}
    assert "100" in errors["replica_name"]
    assert "101" in errors["replica_name"]


def test_name_at_the_limit_is_fine_and_stripped() -> None:
    assert request_for(replace(VALID_VIDEO, replica_name="n" * 100)).replica_name == "n" * 100
    assert request_for(replace(VALID_VIDEO, replica_name="  Jane  ")).replica_name == "Jane"


def test_video_mode_needs_a_video_url() -> None:
    errors = errors_for(replace(VALID_VIDEO, train_video_url="  "))

    assert set(errors) == {"train_video_url"}


def test_image_mode_needs_an_image_url() -> None:
    errors = errors_for(replace(VALID_IMAGE, train_image_url=""))

    assert set(errors) == {"train_image_url"}


@pytest.mark.parametrize(
    "bad_url",
    ["ftp://media.example/y.mp4", "not a url", "/relative/y.mp4", "media.example/y.mp4"],
)
@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (VALID_VIDEO, "train_video_url"),
        (VALID_VIDEO, "consent_video_url"),
        (VALID_IMAGE, "train_image_url"),
    ],
    ids=["train_video_url", "consent_video_url", "train_image_url"],
)
def test_non_http_urls(draft: FormDraft, field: str, bad_url: str) -> None:
    changes: dict[str, Any] = {field: bad_url}
    errors = errors_for(replace(draft, **changes))

    assert set(errors) == {field}
    assert "http" in errors[field]


def test_malformed_bracketed_url_is_a_field_error() -> None:
    errors = errors_for(replace(VALID_VIDEO, train_video_url="https://[media.example/y.mp4"))

    assert set(errors) == {"train_video_url"}


def test_image_mode_without_voice() -> None:
    errors = errors_for(replace(VALID_IMAGE, voice_name=" "))

    assert set(errors) == {"voice_name"}


@pytest.mark.parametrize("draft", [VALID_VIDEO, VALID_IMAGE], ids=["video", "image"])
def test_unknown_voice(draft: FormDraft) -> None:
    errors = errors_for(replace(draft, voice_name="gandalf"))

    assert set(errors) == {"voice_name"}
    assert "gandalf" in errors["voice_name"]


@pytest.mark.parametrize("model", ["phoenix-5", "phoenix-2", "", "PHOENIX-4", "phoenix-4.5 "])
def test_unknown_model(model: str) -> None:
    errors = errors_for(replace(VALID_VIDEO, model_name=model))

    assert errors == {"model_name": "Choose one of: Phoenix-4.5, Phoenix-4 or Phoenix-3."}


@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_from_a_video(model: str) -> None:
    assert request_for(replace(VALID_VIDEO, model_name=model)).model_name == model


@pytest.mark.parametrize("model", ["phoenix-4.5", "phoenix-4"])
def test_phoenix_4_and_4_5_train_from_a_photo(model: str) -> None:
    request = request_for(replace(VALID_IMAGE, model_name=model))

    assert request.tavus_body(None)["model_name"] == model


def test_phoenix_3_cannot_train_from_a_photo() -> None:
    errors = errors_for(replace(VALID_IMAGE, model_name="phoenix-3"))

    assert errors == {
        "model_name": "Phoenix-3 cannot train from a photo: choose Phoenix-4.5 or Phoenix-4."
    }


def test_the_models_and_what_each_means() -> None:
    assert MODELS == ("phoenix-4.5", "phoenix-4", "phoenix-3")
    assert DEFAULT_MODEL == "phoenix-4" and FormDraft().model_name == DEFAULT_MODEL
    assert set(MODEL_DESCRIPTIONS) == set(MODELS)
    assert all(0 < len(text) <= 75 for text in MODEL_DESCRIPTIONS.values())
    assert [model_label(m) for m in MODELS] == ["Phoenix-4.5", "Phoenix-4", "Phoenix-3"]


@pytest.mark.parametrize("draft", [VALID_VIDEO, VALID_IMAGE], ids=["video", "image"])
def test_consent_unchecked(draft: FormDraft) -> None:
    errors = errors_for(replace(draft, consent=False))

    assert set(errors) == {"consent"}


def test_every_problem_is_reported_at_once() -> None:
    draft = FormDraft(
        replica_name="",
        mode=Mode.IMAGE,
        train_image_url="nope",
        voice_name="",
        model_name="phoenix-9",
        consent=False,
    )

    errors = errors_for(draft)

    assert set(errors) == {
        "replica_name",
        "intended_use",
        "train_image_url",
        "voice_name",
        "model_name",
        "consent",
    }
    assert all(isinstance(message, str) and message for message in errors.values())


def test_error_keys_are_form_fields() -> None:
    errors = errors_for(FormDraft(train_video_url="x", consent_video_url="y", voice_name="z"))

    assert set(errors) <= {field.value for field in Field}
    assert set(errors) == {
        "replica_name",
        "intended_use",
        "train_video_url",
        "consent_video_url",
        "voice_name",
        "consent",
    }


def test_hidden_fields_of_the_other_mode_are_not_validated() -> None:
    assert isinstance(checked(replace(VALID_VIDEO, train_image_url="not a url")), ReplicaRequest)
    assert isinstance(
        checked(replace(VALID_IMAGE, train_video_url="x", consent_video_url="y")), ReplicaRequest
    )


# -- validate: success -------------------------------------------------------------------------


def test_valid_video_draft() -> None:
    draft = replace(
        VALID_VIDEO,
        replica_name=" Jane Doe ",
        train_video_url=f" {VIDEO_URL} ",
        consent_video_url=CONSENT_URL,
        train_image_url=IMAGE_URL,  # typed before switching to video: ignored
        auto_fix_training_image=True,
        model_name="phoenix-3",
    )

    assert request_for(draft) == ReplicaRequest(
        replica_name="Jane Doe",
        mode=Mode.VIDEO,
        model_name="phoenix-3",
        train_video_url=VIDEO_URL,
        consent_video_url=CONSENT_URL,
        train_image_url=None,
        voice_name=None,
        auto_fix_training_image=False,
        subject=Subject(SubjectKind.ME, REQUESTER, "Jane Doe"),
        intended_use=USE,
        statement=None,  # the consent video holds it
        attestation=ATTESTATION_ME_VIDEO,
    )


def test_valid_video_draft_with_voice_lowercases_it() -> None:
    request = request_for(replace(VALID_VIDEO, voice_name=" Anna "))

    assert request.voice_name == "anna"
    assert request.consent_video_url is None


def test_valid_image_draft() -> None:
    draft = replace(
        VALID_IMAGE,
        voice_name="JULIA",
        auto_fix_training_image=True,
        train_video_url=VIDEO_URL,  # hidden in image mode: ignored
        consent_video_url=CONSENT_URL,
    )

    assert request_for(draft) == ReplicaRequest(
        replica_name="Jane Doe",
        mode=Mode.IMAGE,
        model_name=DEFAULT_MODEL,
        train_video_url=None,
        consent_video_url=None,
        train_image_url=IMAGE_URL,
        voice_name="julia",
        auto_fix_training_image=True,
        subject=Subject(SubjectKind.ME, REQUESTER, "Jane Doe"),
        intended_use=USE,
        statement=IMAGE_RIGHTS_STATEMENT,
        attestation=ATTESTATION_ME_PHOTO,
    )


# -- validate: who is on camera, and what for --------------------------------------------------


def test_me_names_the_requester_in_the_sentence_and_records_their_attestation() -> None:
    request = request_for(VALID_VIDEO)

    assert request.subject == Subject(SubjectKind.ME, REQUESTER, "Jane Doe")
    assert request.statement == consent_sentence("Jane Doe")
    assert request.attestation == ATTESTATION_ME_VIDEO
    assert request.consent_reference is None
    assert request.approvers(REQUESTER) == ()


def test_me_without_a_known_name_records_the_placeholder_sentence() -> None:
    result = validate(VALID_VIDEO, VOICES, requester_id=REQUESTER)

    assert isinstance(result, ReplicaRequest)
    assert result.subject == Subject(SubjectKind.ME, REQUESTER, None)
    assert result.statement == consent_sentence(None)


def test_a_member_on_camera_approves_instead_of_an_attestation() -> None:
    request = request_for(MEMBER)

    assert request.subject == Subject(SubjectKind.MEMBER, "U2", "Sam Lee")
    assert request.statement == consent_sentence("Sam Lee")
    assert request.attestation is None
    assert request.approvers(REQUESTER) == ("U2",)


def test_a_member_whose_name_is_unknown_is_still_a_subject() -> None:
    request = request_for(replace(MEMBER, subject_user_id="U3"))

    assert request.subject == Subject(SubjectKind.MEMBER, "U3", None)
    assert request.statement == consent_sentence(None)


def test_a_member_on_camera_in_a_photo_is_shown_the_image_rights_statement() -> None:
    request = request_for(
        replace(VALID_IMAGE, consent=False, subject_kind=SubjectKind.MEMBER, subject_user_id="U2")
    )

    assert request.statement == IMAGE_RIGHTS_STATEMENT
    assert request.attestation is None


def test_someone_outside_slack_is_attested_to_with_the_exact_text() -> None:
    request = request_for(
        replace(
            OUTSIDE,
            subject_name="  Alex Rivera ",
            consent_reference=" https://docs.example/release.pdf ",
            intended_use="  Sales demos  ",
        )
    )

    assert request.subject == Subject(SubjectKind.OUTSIDE, None, "Alex Rivera")
    assert request.statement == consent_sentence("Alex Rivera")
    assert request.attestation == ATTESTATION_OUTSIDE
    assert request.consent_reference == "https://docs.example/release.pdf"
    assert request.intended_use == "Sales demos"
    assert request.approvers(REQUESTER) == ()


def test_the_reference_is_optional() -> None:
    assert request_for(OUTSIDE).consent_reference is None


def test_fields_of_other_subjects_are_ignored() -> None:
    """What a kind not chosen holds (hidden in the form) neither counts nor is checked."""
    me = request_for(
        replace(
            VALID_VIDEO,
            subject_user_id="UBOT",
            subject_name="x" * 500,
            outside_consent=False,
            consent_reference="not a link",
        )
    )
    assert me.subject.kind is SubjectKind.ME and me.consent_reference is None
    outside = request_for(replace(OUTSIDE, subject_user_id="U2", consent=False))
    assert outside.subject.user_id is None


def test_a_slack_file_brings_its_owner_and_permalink() -> None:
    shared = SlackFile(
        id="F1",
        name="sam.mp4",
        mimetype="video/mp4",
        size=1000,
        owner="U2",
        permalink="https://acme.slack.com/files/U2/F1/sam.mp4",
    )

    request = request_for(
        replace(VALID_VIDEO, train_video_url="", slack_file_id="F1"), files=(shared,)
    )

    assert request.slack_file_owner == "U2"
    assert request.slack_file_permalink == "https://acme.slack.com/files/U2/F1/sam.mp4"
    assert request.approvers(REQUESTER) == ("U2",)  # "me" on someone else's file
    assert request.attestation == ATTESTATION_ME_VIDEO


@pytest.mark.parametrize(
    ("draft", "field", "phrase"),
    [
        (replace(MEMBER, subject_user_id=""), "subject_user", "choose the person"),
        (replace(MEMBER, subject_user_id=REQUESTER), "subject_user", "that's you"),
        (replace(MEMBER, subject_user_id="UBOT"), "subject_user", "bot"),
        (replace(MEMBER, subject_user_id="UGONE"), "subject_user", "deactivated"),
        (replace(OUTSIDE, subject_name="  "), "subject_name", "full name"),
        (
            replace(OUTSIDE, subject_name="n" * (MAX_SUBJECT_NAME_LENGTH + 1)),
            "subject_name",
            f"{MAX_SUBJECT_NAME_LENGTH} characters",
        ),
        (replace(OUTSIDE, outside_consent=False), "outside_consent", "written consent"),
        (replace(OUTSIDE, consent_reference="release.pdf"), "consent_reference", "https://"),
        (
            replace(OUTSIDE, consent_reference="ftp://docs.example/r.pdf"),
            "consent_reference",
            "link",
        ),
        (replace(VALID_VIDEO, intended_use=" "), "intended_use", "used for"),
        (
            replace(VALID_VIDEO, intended_use="u" * (MAX_INTENDED_USE_LENGTH + 1)),
            "intended_use",
            f"{MAX_INTENDED_USE_LENGTH} characters",
        ),
        (replace(VALID_VIDEO, consent=False), "consent", "confirm consent"),
    ],
    ids=[
        "no-member",
        "member-is-requester",
        "member-is-a-bot",
        "member-deactivated",
        "outside-no-name",
        "outside-name-too-long",
        "outside-unticked",
        "reference-not-a-link",
        "reference-not-http",
        "no-intended-use",
        "intended-use-too-long",
        "me-unticked",
    ],
)
def test_subject_and_use_errors_are_plain_words_under_their_field(
    draft: FormDraft, field: str, phrase: str
) -> None:
    errors = errors_for(draft)

    assert list(errors) == [field]
    message = errors[field]
    assert phrase in message.lower()
    assert "_" not in message  # words, not field names or codes


def test_the_requester_picking_themselves_is_told_to_choose_me() -> None:
    errors = errors_for(replace(MEMBER, subject_user_id=REQUESTER))

    assert errors == {"subject_user": "That's you: choose “Me” instead."}


def test_intended_use_at_the_limit_is_fine() -> None:
    use = "u" * MAX_INTENDED_USE_LENGTH
    assert request_for(replace(VALID_VIDEO, intended_use=use)).intended_use == use


def test_a_member_or_outsider_needs_no_tick_of_the_me_box() -> None:
    assert request_for(MEMBER).attestation is None
    assert request_for(OUTSIDE).attestation == ATTESTATION_OUTSIDE


@pytest.mark.parametrize(
    ("is_bot", "deleted", "reason"),
    [
        (False, False, None),
        (True, False, Unavailable.BOT),
        (False, True, Unavailable.DEACTIVATED),
        (True, True, Unavailable.BOT),
    ],
)
def test_unavailable_reason(is_bot: bool, deleted: bool, reason: Unavailable | None) -> None:
    assert unavailable_reason(is_bot=is_bot, deleted=deleted) is reason


# -- ReplicaRequest.tavus_body ------------------------------------------------------------------


def test_tavus_body_video_minimal() -> None:
    request = ReplicaRequest("Jane", Mode.VIDEO, train_video_url=VIDEO_URL)

    assert request.tavus_body(None) == {
        "replica_name": "Jane",
        "model_name": "phoenix-4",
        "train_video_url": VIDEO_URL,
    }


def test_tavus_body_video_full() -> None:
    request = ReplicaRequest(
        "Jane",
        Mode.VIDEO,
        model_name="phoenix-3",
        train_video_url=VIDEO_URL,
        consent_video_url=CONSENT_URL,
        voice_name="anna",
    )

    assert request.tavus_body(CALLBACK) == {
        "replica_name": "Jane",
        "model_name": "phoenix-3",
        "train_video_url": VIDEO_URL,
        "consent_video_url": CONSENT_URL,
        "voice_name": "anna",
        "callback_url": CALLBACK,
    }


def test_tavus_body_video_with_consent_only() -> None:
    request = ReplicaRequest(
        "Jane", Mode.VIDEO, train_video_url=VIDEO_URL, consent_video_url=CONSENT_URL
    )

    assert request.tavus_body(CALLBACK) == {
        "replica_name": "Jane",
        "model_name": "phoenix-4",
        "train_video_url": VIDEO_URL,
        "consent_video_url": CONSENT_URL,
        "callback_url": CALLBACK,
    }


def test_tavus_body_video_with_voice_only() -> None:
    request = ReplicaRequest("Jane", Mode.VIDEO, train_video_url=VIDEO_URL, voice_name="anna")

    assert request.tavus_body(None) == {
        "replica_name": "Jane",
        "model_name": "phoenix-4",
        "train_video_url": VIDEO_URL,
        "voice_name": "anna",
    }


def test_tavus_body_video_never_sends_auto_fix() -> None:
    request = ReplicaRequest(
        "Jane", Mode.VIDEO, train_video_url=VIDEO_URL, auto_fix_training_image=True
    )

    assert "auto_fix_training_image" not in request.tavus_body(None)


@pytest.mark.parametrize("auto_fix", [True, False])
def test_tavus_body_image(auto_fix: bool) -> None:
    request = ReplicaRequest(
        "Jane",
        Mode.IMAGE,
        train_image_url=IMAGE_URL,
        voice_name="anna",
        auto_fix_training_image=auto_fix,
    )

    assert request.tavus_body(CALLBACK) == {
        "replica_name": "Jane",
        "model_name": "phoenix-4",
        "train_image_url": IMAGE_URL,
        "voice_name": "anna",
        "auto_fix_training_image": auto_fix,
        "callback_url": CALLBACK,
    }


def test_tavus_body_empty_callback_is_omitted() -> None:
    request = ReplicaRequest("Jane", Mode.IMAGE, train_image_url=IMAGE_URL, voice_name="anna")

    assert "callback_url" not in request.tavus_body("")


def test_media_url() -> None:
    assert ReplicaRequest("J", Mode.VIDEO, train_video_url=VIDEO_URL).media_url == VIDEO_URL
    assert ReplicaRequest("J", Mode.IMAGE, train_image_url=IMAGE_URL).media_url == IMAGE_URL
    assert ReplicaRequest("J", Mode.IMAGE).media_url == ""


# -- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        ("https://x.example/a.png", Mode.IMAGE),
        ("https://x.example/a.JPEG", Mode.IMAGE),
        ("https://x.example/a.jpg?sig=1#frag", Mode.IMAGE),
        ("https://x.example/a.mp4", Mode.VIDEO),
        ("https://x.example/a.webm", Mode.VIDEO),
        ("https://x.example/a", Mode.VIDEO),
        ("https://x.example/a.gif", Mode.VIDEO),
        ("https://x.example/?file=a.png", Mode.VIDEO),
    ],
)
def test_mode_for_url(url: str, mode: Mode) -> None:
    assert mode_for_url(url) is mode


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://example.com", True),
        ("http://127.0.0.1:8080/path?q=1", True),
        ("HTTPS://EXAMPLE.COM/A.MP4", True),
        ("ftp://example.com/a.mp4", False),
        ("example.com/a.mp4", False),
        ("/relative/a.mp4", False),
        ("https://", False),
        ("https:///path-only", False),
        ("not a url", False),
        ("https://exa mple.com/a.mp4", False),
        ("https://example.com/a b.mp4", False),
        ("", False),
        ("mailto:jane@example.com", False),
    ],
)
def test_is_http_url(value: str, expected: bool) -> None:
    assert is_http_url(value) is expected


@pytest.mark.parametrize("value", ["http://[oops", "https://[::1/x.mp4"])
def test_is_http_url_is_false_for_malformed_bracketed_hosts(value: str) -> None:
    assert is_http_url(value) is False


@pytest.mark.parametrize(
    ("state", "is_open"),
    [
        (State.SUBMITTING, True),
        (State.TRAINING, True),
        (State.UNCERTAIN, True),
        (State.SUCCEEDED, False),
        (State.FAILED, False),
        (State.NOT_CREATED, False),
    ],
)
def test_state_is_open(state: State, is_open: bool) -> None:
    assert state.is_open is is_open


def test_consent_sentence_with_name() -> None:
    assert consent_sentence("  Jane Doe ") == (
        "I, Jane Doe, am currently speaking and consent Tavus to create an AI clone of me by "
        "using the audio and video samples I provide. I understand that this AI clone can be "
        "used to create videos that look and sound like me."
    )


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_consent_sentence_without_name(missing: str | None) -> None:
    sentence = consent_sentence(missing)

    assert sentence.startswith(f"I, {NAME_PLACEHOLDER}, am currently speaking")
    assert NAME_PLACEHOLDER == "[your full name]"


def test_consent_sentence_keeps_braces_in_names() -> None:
    assert consent_sentence("{full_name}").startswith("I, {full_name}, am")
