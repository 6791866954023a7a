"""domain.request: who must approve a request before it goes to Tavus."""

from __future__ import annotations

import pytest

from domain.request import Mode, ReplicaRequest
from domain.subject import Subject, SubjectKind

ME = Subject(SubjectKind.ME, "U1")
SAM = Subject(SubjectKind.MEMBER, "U2")
OUTSIDE = Subject(SubjectKind.OUTSIDE, None, "Ana Lima")


@pytest.mark.parametrize(
    ("subject", "file_owner", "approvers"),
    [
        (ME, None, ()),
        (ME, "U1", ()),  # my own upload
        (ME, "U3", ("U3",)),  # someone else's upload, even of me
        (SAM, None, ("U2",)),
        (SAM, "U2", ("U2",)),  # once, though on camera and owning the file
        (SAM, "U3", ("U2", "U3")),  # on camera first
        (OUTSIDE, None, ()),  # the requester attests
        (OUTSIDE, "U3", ("U3",)),
    ],
)
def test_approvers(subject: Subject, file_owner: str | None, approvers: tuple[str, ...]) -> None:
    request = ReplicaRequest(
        replica_name="x", mode=Mode.VIDEO, subject=subject, slack_file_owner=file_owner
    )
    assert request.approvers("U1") == approvers


def test_the_requester_never_approves_for_themselves() -> None:
    request = ReplicaRequest(
        replica_name="x", mode=Mode.VIDEO, subject=Subject(SubjectKind.MEMBER, "U1")
    )
    assert request.approvers("U1") == ()
