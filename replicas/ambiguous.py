"""Which replica an ambiguous create made (its answer was lost): a pure matching rule.

Names are not unique, so a replica matches a request when it has the request's name, was
created after the request went out (allowing for Tavus's clock running behind ours), and
belongs to no other request; the earliest request sent claims the earliest replica made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.record import ReplicaRecord
from tavus.listing import ListedReplica

# Tavus's clock may run behind ours: a replica listed as created this long before our POST
# went out still counts as created after it.
CLOCK_SKEW = timedelta(minutes=2)
# An ambiguous create that no listing has shown for this long did not create anything.
UNCERTAIN_GIVE_UP = timedelta(minutes=15)


@dataclass
class Matches:
    found: list[tuple[ReplicaRecord, ListedReplica]] = field(default_factory=list)
    # Requests no listing has shown a replica for within UNCERTAIN_GIVE_UP.
    given_up: list[ReplicaRecord] = field(default_factory=list)


def sent_at(record: ReplicaRecord) -> datetime:
    return datetime.fromisoformat(record.create_sent_at or record.created_at)


def match_creates(
    uncertain: list[ReplicaRecord],
    listing: list[ListedReplica],
    claimed: set[str],
    now: datetime,
) -> Matches:
    """The replica each ambiguous create made, and the creates to give up on. `claimed` (the
    replica ids requests already have) is not changed."""
    taken = set(claimed)
    matches = Matches()
    for record in sorted(uncertain, key=sent_at):
        sent = sent_at(record)
        candidates = sorted(
            (
                replica
                for replica in listing
                if replica.replica_name == record.request.replica_name
                and replica.created_at is not None
                and replica.created_at >= sent - CLOCK_SKEW
                and replica.replica_id not in taken
            ),
            key=lambda replica: replica.created_at or now,
        )
        if candidates:
            taken.add(candidates[0].replica_id)
            matches.found.append((record, candidates[0]))
        elif now - sent > UNCERTAIN_GIVE_UP:
            matches.given_up.append(record)
    return matches
