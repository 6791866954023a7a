"""Try again: the request form prefilled with everything a request had, for a new request."""

from __future__ import annotations

from domain.form import FormDraft
from domain.request import Mode, ReplicaRequest
from domain.subject import SubjectKind


def draft_from_request(request: ReplicaRequest) -> FormDraft:
    """The form as the request was submitted: name, mode, media (the Slack file rather than
    the copy the bot made of it), voice, model, who is on camera and the intended use.
    Consent is not carried over: it is asked again."""
    from_slack = request.slack_file_id is not None
    subject = request.subject
    return FormDraft(
        replica_name=request.replica_name,
        mode=request.mode,
        train_video_url="" if from_slack else request.train_video_url or "",
        consent_video_url=request.consent_video_url or "",
        train_image_url="" if from_slack else request.train_image_url or "",
        voice_name=request.voice_name or "",
        auto_fix_training_image=request.mode is Mode.IMAGE and request.auto_fix_training_image,
        model_name=request.model_name,
        slack_file_id=request.slack_file_id or "",
        subject_kind=subject.kind,
        subject_user_id=(subject.user_id or "") if subject.kind is SubjectKind.MEMBER else "",
        subject_name=(subject.name or "") if subject.kind is SubjectKind.OUTSIDE else "",
        intended_use=request.intended_use,
        consent_reference=request.consent_reference or "",
    )
