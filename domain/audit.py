"""The audit export: each request's consent record folded into one CSV row.

`/replica audit` (handlers/audit.py) and `python bot.py export-audit` (server/export.py) both
write `audit_csv(events)`, so an admin and an operator get the same file: a header row, then
one row per request in request-id order.

Where each column comes from. The record (storage/consent.py; each kind's `details` are built
in domain/consent.py) is an append-only list of events per request. A key missing from it
leaves its cell empty, so an older or partial record still exports; where two spellings are
listed, the first one present counts (the second is the shape first proposed for the record).
When an event kind occurs more than once for a request, the latest one counts (the history
column keeps every state change).

    column              event           details key (or the event's own field)
    request_id          any             .request_id
    submitted_at        SUBMITTED       .at
    requester_id        SUBMITTED       "requester_id" | "requester" | .actor_id
    team_id             SUBMITTED       "workspace" -> "team_id" | "team_id"
    enterprise_id       SUBMITTED       "workspace" -> "enterprise_id" | "enterprise_id"
    replica_name        SUBMITTED       "replica_name"
    mode                SUBMITTED       "mode"
    model               SUBMITTED       "model"
    subject_kind        SUBMITTED       "subject" -> "kind" (me / member / outside)
    subject             SUBMITTED       "subject" -> "user_id" | "name"
    intended_use        SUBMITTED       "intended_use"
    consent_method      SUBMITTED       "how" -> "method" (attestation / approval)
    consent_text        SUBMITTED       "how" -> "text"
    consent_by          SUBMITTED       "how" -> "by" | "user_id"; with approvers, those who
                        APPROVED        approved (.actor_id, joined by "; ")
    consent_at          SUBMITTED       "how" -> "at"; with approvers, the last approval's .at
    consent_reference   SUBMITTED       "how" -> "reference" (e.g. a signed release's link)
    decisions           APPROVED,       "<user> approved|declined <at>", and "expired <at>",
                        DECLINED,       each, joined by "; "
                        EXPIRED
    statement           SUBMITTED       "statement" -> "text" ("statement" or its text may be
                                        None: no spoken statement is relied on)
    statement_version   SUBMITTED       "statement" -> "version"
    media_url           SUBMITTED       "media" -> "url"
    consent_video_url   SUBMITTED       "media" -> "consent_video_url" (where the statement
                                        is, when it is not at the start of the training video)
    slack_file_id       SUBMITTED       "media" -> "slack_file_id" | MEDIA_RELAYED same
    file_name           SUBMITTED       "media" -> "file_name" | MEDIA_RELAYED same
    media_sha256        MEDIA_RELAYED   "sha256"
    status_permalink    POSTED          "permalink"
    replica_id          STATE_CHANGED   "replica_id" (the latest one that names one)
    state               STATE_CHANGED   "to" of the latest; before any: SUBMITTED "state" |
                                        "submitting" (where every request starts)
    state_history       STATE_CHANGED   "from"->"to" .at, each, joined by "; "
    withdrawn_at        REVOKED,        .at of the first (consent withdrawn, or deletion
                        DELETE_REQUESTED asked for)
    withdrawn_by        REVOKED,        .actor_id | "by" of that event; "(revoked)" follows
                        DELETE_REQUESTED the subject's own withdrawal
    deleted_at          DELETED         .at
    deleted_by          DELETED         .actor_id | "by"
    deletion            DELETED         "hard": true → "hard", otherwise "soft"

Not exported: SUBMITTED "channel_id", MEDIA_RELAYED "size", POSTED "channel_id" and "ts"
(the permalink says where), STATE_CHANGED "reason" and "tavus_status": they say nothing about
consent, and the bot's database keeps them.

Values come from requesters (names, intended use) and from Tavus, and a spreadsheet runs a
cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a
formula: such a cell is written with a leading apostrophe, as OWASP advises, which
spreadsheets show as text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, TextIO

from domain.consent import ConsentEvent, ConsentEventKind
from domain.states import State

COLUMNS: tuple[str, ...] = (
    "request_id",
    "submitted_at",
    "requester_id",
    "team_id",
    "enterprise_id",
    "replica_name",
    "mode",
    "model",
    "subject_kind",
    "subject",
    "intended_use",
    "consent_method",
    "consent_text",
    "consent_by",
    "consent_at",
    "consent_reference",
    "decisions",
    "statement",
    "statement_version",
    "media_url",
    "consent_video_url",
    "slack_file_id",
    "file_name",
    "media_sha256",
    "status_permalink",
    "replica_id",
    "state",
    "state_history",
    "withdrawn_at",
    "withdrawn_by",
    "deleted_at",
    "deleted_by",
    "deletion",
)

Row = dict[str, str]

# What a spreadsheet may take for the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def audit_rows(events: Iterable[ConsentEvent]) -> list[Row]:
    """One row per request (COLUMNS as keys, every value a str), in request-id order; each
    request's events are applied in the order given (the record's order)."""
    folds: dict[int, _Fold] = {}
    for event in events:
        folds.setdefault(event.request_id, _Fold(event.request_id)).apply(event)
    return [folds[request_id].row() for request_id in sorted(folds)]


def safe_cell(value: str) -> str:
    """`value` as a spreadsheet shows it rather than runs it."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def write_csv(rows: Iterable[Mapping[str, str]], out: TextIO) -> None:
    """The header row, then `rows`, every cell made safe for spreadsheets. Lines end in CRLF
    (RFC 4180); `out` must not translate newlines (open files with newline="")."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(safe_cell(row.get(column, "")) for column in COLUMNS)


def csv_text(rows: Iterable[Mapping[str, str]]) -> str:
    """`write_csv` into a string."""
    out = io.StringIO(newline="")
    write_csv(rows, out)
    return out.getvalue()


def audit_csv(events: Iterable[ConsentEvent]) -> str:
    """The whole export as text: what both the command line and Slack hand out."""
    return csv_text(audit_rows(events))


def parse_day(text: str) -> date:
    """A `YYYY-MM-DD` date, strictly (date.fromisoformat alone would also take "20260301" or
    "2026-W09"); ValueError otherwise, or for a day that does not exist."""
    if not _DAY.fullmatch(text):
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    return date.fromisoformat(text)


def day_start(day: date) -> str:
    """The first moment of `day` (UTC) written as the record's timestamps are (ISO, with
    milliseconds and +00:00), so that comparing the strings compares the times."""
    return datetime.combine(day, time(), tzinfo=UTC).isoformat(timespec="milliseconds")


# -- folding one request's events -------------------------------------------------------------


def _text(value: Any) -> str:
    """A details value as a cell: None is empty; a value of an unexpected shape is kept as
    JSON rather than dropped, so the export never fails on one odd record."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _part(details: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """details[key] when it is an object; empty otherwise (missing, None or another shape)."""
    found = details.get(key)
    return found if isinstance(found, Mapping) else {}


def _first(*values: Any) -> str:
    """The first of `values` that is not empty, as a cell."""
    return next((text for text in map(_text, values) if text), "")


class _Fold:
    """A request's row, built up one event at a time."""

    def __init__(self, request_id: int) -> None:
        self._row: Row = dict.fromkeys(COLUMNS, "")
        self._row["request_id"] = str(request_id)
        self._initial_state = ""  # before any STATE_CHANGED; set by SUBMITTED
        self._history: list[str] = []
        self._relayed: Mapping[str, Any] = {}
        self._decisions: list[str] = []
        self._approved_by: list[str] = []
        self._approved_at = ""

    def apply(self, event: ConsentEvent) -> None:
        details = event.details if isinstance(event.details, Mapping) else {}
        if event.kind is ConsentEventKind.SUBMITTED:
            self._apply_submitted(event, details)
        elif event.kind is ConsentEventKind.MEDIA_RELAYED:
            self._row["media_sha256"] = _text(details.get("sha256"))
            self._relayed = details
        elif event.kind is ConsentEventKind.POSTED:
            self._row["status_permalink"] = _text(details.get("permalink"))
        elif event.kind is ConsentEventKind.STATE_CHANGED:
            before, after = _text(details.get("from")), _text(details.get("to"))
            # ASCII: spreadsheets that guess the encoding garble anything else.
            self._history.append(f"{before}->{after} {event.at}")
            self._row["state"] = after
            replica_id = _text(details.get("replica_id"))
            if replica_id:  # a failure before Tavus answered names none: keep the known one
                self._row["replica_id"] = replica_id
        elif event.kind in (ConsentEventKind.APPROVED, ConsentEventKind.DECLINED):
            by = _first(event.actor_id, details.get("by"))
            self._decisions.append(f"{by} {event.kind.value} {event.at}")
            if event.kind is ConsentEventKind.APPROVED:
                self._approved_by.append(by)
                self._approved_at = event.at
        elif event.kind is ConsentEventKind.EXPIRED:
            self._decisions.append(f"expired {event.at}")
        elif event.kind in (ConsentEventKind.REVOKED, ConsentEventKind.DELETE_REQUESTED):
            if not self._row["withdrawn_at"]:
                by = _first(event.actor_id, details.get("by"))
                revoked = event.kind is ConsentEventKind.REVOKED
                self._row["withdrawn_at"] = event.at
                self._row["withdrawn_by"] = f"{by} (revoked)" if revoked else by
        elif event.kind is ConsentEventKind.DELETED:
            self._row["deleted_at"] = event.at
            self._row["deleted_by"] = _first(event.actor_id, details.get("by"))
            self._row["deletion"] = "hard" if details.get("hard") is True else "soft"

    def _apply_submitted(self, event: ConsentEvent, details: Mapping[str, Any]) -> None:
        row = self._row
        row["submitted_at"] = event.at
        row["requester_id"] = _first(
            details.get("requester_id"), details.get("requester"), event.actor_id
        )
        workspace = _part(details, "workspace")
        row["team_id"] = _first(workspace.get("team_id"), details.get("team_id"))
        row["enterprise_id"] = _first(workspace.get("enterprise_id"), details.get("enterprise_id"))
        for column, key in (
            ("replica_name", "replica_name"),
            ("mode", "mode"),
            ("model", "model"),
            ("intended_use", "intended_use"),
        ):
            row[column] = _text(details.get(key))
        subject = _part(details, "subject")
        row["subject_kind"] = _text(subject.get("kind"))
        row["subject"] = _first(subject.get("user_id"), subject.get("name"))
        how = _part(details, "how")
        row["consent_method"] = _text(how.get("method"))
        row["consent_text"] = _text(how.get("text"))
        row["consent_by"] = _first(how.get("by"), how.get("user_id"))
        row["consent_at"] = _text(how.get("at"))
        row["consent_reference"] = _text(how.get("reference"))
        statement = _part(details, "statement")
        row["statement"] = _text(statement.get("text"))
        row["statement_version"] = _text(statement.get("version"))
        media = _part(details, "media")
        row["media_url"] = _text(media.get("url"))
        row["consent_video_url"] = _text(media.get("consent_video_url"))
        row["slack_file_id"] = _text(media.get("slack_file_id"))
        row["file_name"] = _text(media.get("file_name"))
        self._initial_state = _first(details.get("state"), State.SUBMITTING.value)

    def row(self) -> Row:
        row = dict(self._row)
        for column in ("slack_file_id", "file_name"):
            row[column] = row[column] or _text(self._relayed.get(column))
        row["state"] = row["state"] or self._initial_state
        row["state_history"] = "; ".join(self._history)
        row["decisions"] = "; ".join(self._decisions)
        if self._approved_by and row["consent_method"] == "approval":
            row["consent_by"] = "; ".join(self._approved_by)
            row["consent_at"] = self._approved_at
        return row
