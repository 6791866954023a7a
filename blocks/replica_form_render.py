"""The request form as the JSON Slack takes (`views.open`, `views.update`), memoised.

blocks/replica_modal.py builds the form from slack_sdk models, and `to_dict()` validates every
object of it (slack_sdk walks `dir()` of each one): most of a `/replica`'s CPU, paid again for
every identical form. The builder is a pure function of the draft, the context's rendered parts
and the dry-run flag, so its output is kept per distinct input (least recently used going
first) and every caller gets its own deep copy: a caller that changes its view changes nobody
else's. It is kept pickled: unpickling is the quickest deep copy of plain JSON values (about
a sixth of `copy.deepcopy`'s time), and a pickle cannot be changed by anyone. Only the session
key in private_metadata differs from form to form; it is set on the copy.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from functools import lru_cache
from typing import Any

from blocks.replica_form_consent import statement_block
from blocks.replica_modal import (
    ModalContext,
    build_replica_modal,
    form_metadata,
    subject_name_shown,
)
from domain.form import FormDraft

# Distinct forms kept, a few KB each: every requester's empty form (their name differs), and
# the latest clicks' re-renders.
MAX_FORMS_KEPT = 512


def _rendered_part(context: ModalContext) -> str:
    """The context as a cache key, without what the form never shows (where it was opened
    from, values stashed by a switch, and who asked when no shared file could be theirs):
    forms differing only there are the same form, so a requester's first form, before their
    name is known, is already built. Any other field, including one added later, is part of
    the key."""
    requester = context.requester_id if context.files else ""
    return replace(
        context, channel_id="", thread_ts=None, stash={}, requester_id=requester
    ).to_json()


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """`to_dict()` output as plain JSON values: it keeps Field members (StrEnum) as ids, and
    unpickling an enum member costs a call each; Slack gets the same strings either way."""
    plain: dict[str, Any] = json.loads(json.dumps(data, ensure_ascii=False))
    return plain


@lru_cache(maxsize=MAX_FORMS_KEPT)
def _built(draft: FormDraft, context_json: str, dry_run: bool) -> bytes:
    context = ModalContext.from_json(context_json)
    if context.requester_name is not None:
        view = _named(draft, context, dry_run)
    else:
        view = _plain(build_replica_modal(draft, context, form_key="", dry_run=dry_run).to_dict())
    return pickle.dumps(view, protocol=pickle.HIGHEST_PROTOCOL)


def _named(draft: FormDraft, context: ModalContext, dry_run: bool) -> dict[str, Any]:
    """The form of a requester whose name is known: the same form without their name (kept
    already: a requester's form opens before their name is looked up, and all new requesters'
    forms are alike), with the one block that can show it, the statement, built again. Their
    name is the personalisation after views.open; this makes its re-render cost one block."""
    anonymous = replace(context, requester_name=None)
    view: dict[str, Any] = pickle.loads(_built(draft, _rendered_part(anonymous), dry_run))
    statement = _plain(statement_block(draft, subject_name_shown(draft, context)).to_dict())
    view["blocks"] = [
        statement if block.get("block_id") == statement["block_id"] else block
        for block in view["blocks"]
    ]
    return view


def pickled_form(draft: FormDraft, context: ModalContext, *, dry_run: bool = False) -> bytes:
    """The form as kept here: pickled, without its session key. Equal pickles are the same
    form, so a session keeps this (one bytes object, shared with the cache) to know what Slack
    shows, rather than the view itself: some 30 dicts a form, 256 forms remembered, which the
    garbage collector walked at every collection (3-5 ms each, bench/polling.py)."""
    return _built(draft, _rendered_part(context), dry_run)


def form_view(pickled: bytes, *, form_key: str) -> dict[str, Any]:
    """The view of a pickled form (`pickled_form`), with its session key: a new dict, the
    caller's to change."""
    view: dict[str, Any] = pickle.loads(pickled)
    view["private_metadata"] = form_metadata(form_key)
    return view
