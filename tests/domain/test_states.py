"""domain.states: the state machine as data."""

from __future__ import annotations

from domain.states import OPEN, TRANSITIONS, State, Transition, sources, target


def test_every_transition_has_sources_and_a_target() -> None:
    assert set(TRANSITIONS) == set(Transition)
    for transition in Transition:
        assert sources(transition)
        assert target(transition) not in sources(transition)


def test_finished_states_change_only_by_deletion() -> None:
    finished = set(State) - OPEN - {State.NOT_CREATED, State.AWAITING_CONSENT}
    assert finished == {State.SUCCEEDED, State.FAILED, State.DELETED}
    for transition in Transition:
        if sources(transition) & finished:
            assert transition is Transition.DELETED
    assert State.DELETED not in {s for t in Transition for s in sources(t)}


def test_nothing_leaves_awaiting_consent_but_an_answer() -> None:
    leaving = {t for t in Transition if State.AWAITING_CONSENT in sources(t)}
    assert leaving == {Transition.CONSENTED, Transition.CONSENT_REFUSED}
    assert target(Transition.CONSENTED) is State.SUBMITTING
    assert not State.AWAITING_CONSENT.is_open  # the poller never sends it


def test_only_adoption_leaves_not_created() -> None:
    # A replica Tavus lists after the bot gave up is adopted; nothing else reopens a request.
    leaving = [t for t in Transition if State.NOT_CREATED in sources(t)]
    assert leaving == [Transition.ADOPTED]


def test_every_state_is_reachable_from_where_requests_start() -> None:
    reached = {State.SUBMITTING, State.AWAITING_CONSENT}
    while True:
        more = {target(t) for t in Transition if sources(t) & reached} - reached
        if not more:
            break
        reached |= more
    assert reached == set(State)


def test_open_states_are_the_ones_a_result_may_still_reach() -> None:
    assert {s for s in State if s.is_open} == OPEN
    assert sources(Transition.SUCCEEDED) == OPEN == sources(Transition.FAILED)


def test_a_create_is_uncertain_only_once() -> None:
    assert sources(Transition.CREATE_UNCERTAIN) == {State.SUBMITTING}
    assert State.UNCERTAIN in sources(Transition.CREATE_FAILED)
