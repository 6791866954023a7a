"""domain.consent: what the consent record keeps of a link."""

from __future__ import annotations

from domain.consent import recordable_url

PRESIGNED = (
    "https://bucket.s3.amazonaws.com/jane.mp4?X-Amz-Credential=AKIA%2F20261202&"
    "X-Amz-Signature=abcdef0123&X-Amz-Security-Token=secret#t=10"
)


def test_a_presigned_links_signature_and_credentials_are_not_recorded() -> None:
    kept = recordable_url(PRESIGNED)
    assert kept.startswith("https://bucket.s3.amazonaws.com/jane.mp4 (query removed; sha256 ")
    assert "Signature" not in kept and "AKIA" not in kept and "secret" not in kept


def test_the_same_link_is_recorded_the_same_way_and_another_differently() -> None:
    assert recordable_url(PRESIGNED) == recordable_url(PRESIGNED)
    assert recordable_url(PRESIGNED) != recordable_url(PRESIGNED.replace("abcdef", "fedcba"))


def test_a_plain_link_is_kept_whole() -> None:
    assert recordable_url("https://cdn.example.com/jane.mp4") == "https://cdn.example.com/jane.mp4"
