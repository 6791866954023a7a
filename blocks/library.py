"""The replica library: each replica with its status, progress, preview and actions, as App
Home shows it and `/replica list` and `/replica status` answer (the same builder for all)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from blocks import TEXT_LIMIT, Message, dry_run_block, escape_within, fit, with_dry_run_note
from blocks.messages import MODE_NAMES, STATUS, status_label
from blocks.replica_actions import action_buttons, preview_link, training_line
from domain.record import ReplicaRecord

NEW_REPLICA = "home_new_replica"  # App Home: opens the request form
HOME_PAGE = "home_page"  # App Home, admins: another page of everyone's replicas
PAGE_SIZE = 10  # replicas per list: each takes up to 3 blocks (Home holds 100, a message 50)
NAME_LIMIT = 200
FIND_ANY = "`/replica status <name>` finds any of them"


@dataclass(frozen=True)
class PageMark:
    """Where a page of everyone's replicas starts: its position (shown, from 0) and the
    request id it shows those older than (None: the newest). A Previous/Next button's value:
    "0" for the first page, "<offset>:<before>" for another."""

    offset: int = 0
    before: int | None = None

    @property
    def value(self) -> str:
        return "0" if self.before is None else f"{self.offset}:{self.before}"


@dataclass(frozen=True)
class Page:
    """One page of a list of replicas: which, where in the whole list, how many in all (at
    least, when `more_than`: lists count only so far), and, for App Home's pager, where the
    page before it starts (None: there is none)."""

    records: Sequence[ReplicaRecord]
    offset: int = 0
    total: int = 0
    more_than: bool = False
    previous: PageMark | None = None

    @property
    def has_more(self) -> bool:
        return self.more_than or self.offset + len(self.records) < self.total

    @property
    def next(self) -> PageMark | None:
        """Where the page after this one starts; None if this is the last."""
        if not self.has_more or not self.records:
            return None
        return PageMark(self.offset + len(self.records), self.records[-1].id)


def counted_page(
    records: Sequence[ReplicaRecord],
    counted: int,
    *,
    cap: int,
    offset: int = 0,
    previous: PageMark | None = None,
) -> Page:
    """A page at `offset` of a list counted only so far: `counted` of its replicas from this
    page on, the count stopped past `cap` (then "more than")."""
    more_than = counted > cap
    total = offset + min(counted, cap)
    return Page(records, offset, total, more_than=more_than, previous=previous)


def _created(stamp: str) -> str:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp[:10]
    return f"<!date^{int(moment.timestamp())}^{{date_short}}|{moment.date().isoformat()}>"


def replica_item(record: ReplicaRecord, now: datetime) -> list[Block]:
    """One replica: name and state; who, how, when; progress or preview; its buttons."""
    emoji = STATUS[record.state][0]
    name = escape_within(record.request.replica_name, NAME_LIMIT)
    lines = [f"{emoji} *{name}* – {status_label(record)}"]
    lines += [line for line in (training_line(record, now), preview_link(record)) if line]
    details = [
        f"Requested by <@{record.origin.requester_id}>",
        MODE_NAMES[record.request.mode],
        record.request.model_name,
        f"created {_created(record.created_at)}",
    ]
    subject = record.request.subject
    if subject.user_id and subject.user_id != record.origin.requester_id:
        details.append(f"on camera: <@{subject.user_id}>")
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=fit("\n".join(lines), TEXT_LIMIT))),
        ContextBlock(elements=[MarkdownTextObject(text=fit(" · ".join(details), TEXT_LIMIT))]),
    ]
    buttons = action_buttons(record)
    if buttons is not None:
        blocks.append(buttons)
    return blocks


def replica_list(page: Page, now: datetime, *, empty: str) -> list[Block]:
    """A page of replicas, or `empty` when there are none."""
    if not page.records:
        return [SectionBlock(text=MarkdownTextObject(text=empty))]
    blocks: list[Block] = []
    for record in page.records:
        blocks += replica_item(record, now)
    if page.more_than or page.offset > 0 or page.total > len(page.records):
        first, last = page.offset + 1, page.offset + len(page.records)
        more = f" · {FIND_ANY}" if page.has_more else ""
        total = f"more than {page.total:,}" if page.more_than else f"{page.total:,}"
        counted = f"{first:,}–{last:,} of {total}{more}"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=counted)]))
    return blocks


MINE_EMPTY = (
    "No replicas yet. Click *New replica*, type `/replica`, or share a training video with me."
)


def home_view(
    mine: Page, everyone: Page | None, now: datetime | None = None, *, dry_run: bool = False
) -> View:
    """App Home: a New replica button, the viewer's replicas (requested by them or of them),
    and for admins everyone's, a page at a time. `dry_run`: the dry run's marker under the
    title."""
    now = now or datetime.now(UTC)
    blocks: list[Block] = [
        HeaderBlock(text="Replicas"),
        *([dry_run_block()] if dry_run else []),
        ActionsBlock(
            block_id="home_actions",
            elements=[
                ButtonElement(text="New replica", action_id=NEW_REPLICA, style="primary"),
            ],
        ),
        HeaderBlock(text="My replicas"),
        *replica_list(mine, now, empty=MINE_EMPTY),
    ]
    if everyone is not None:
        blocks += [DividerBlock(), HeaderBlock(text="Everyone's replicas (admin)")]
        blocks += replica_list(everyone, now, empty="Nobody has made a replica yet.")
        pager: list[ButtonElement] = []
        if everyone.previous is not None:
            back = everyone.previous.value
            pager.append(ButtonElement(text="Previous", action_id=HOME_PAGE, value=back))
        if (ahead := everyone.next) is not None:
            pager.append(ButtonElement(text="Next", action_id=HOME_PAGE, value=ahead.value))
        if pager:
            blocks.append(ActionsBlock(block_id="home_pager", elements=pager))
    return View(type="home", blocks=blocks)


def list_message(
    page: Page,
    now: datetime | None = None,
    *,
    title: str,
    empty: str,
    dry_run: bool = False,
) -> Message:
    """`/replica list` and `/replica status`: the same items, visible only to the asker.
    `dry_run`: with the dry run's marker."""
    now = now or datetime.now(UTC)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{title}*"))]
    blocks += replica_list(page, now, empty=empty)
    return with_dry_run_note(Message(text=title, blocks=blocks), dry_run)
