"""Malformed input: every bad event lands in a DLQ at once with a reason that names what is wrong,
the handler never crashes (no exception, no failed batch), and the valid events around it land.

The corpus (tests/reliability/corpus/*.json) holds one case per mistake, with the substring its
reason must contain; a few cases too big for a file are built below. Hypothesis then throws
arbitrary JSON and mutated valid events at the handler.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.adapters.sqs_dead_letters import sqs_text
from connector.domain.events import EVENT_TYPES
from connector.domain.pipeline import Disposition, Message, Pipeline, PipelineSettings
from tests.fakes import FakeCoveo, FakeDeadLetters
from tests.in_memory_ledger import InMemoryLedger
from tests.unit.test_boundary_properties import hostile_body, mutate_one_value

from .harness import ReliabilityStack, Workload, account, alias_event, group_event, item_event, send_all

CORPUS = Path(__file__).parent / "corpus"
PROVIDER = "mysecurityidentityprovider8d9s8d"
PERMISSIONS = [
    {"allowedPermissions": [{"identity": "team-000", "identityType": "Group", "securityProvider": PROVIDER}]}
]
# What a reason must never be for bad input: the catch-all SQS gives a message that crashed its
# handler until maxReceiveCount, or a bare exception name.
GENERIC = ("delivery failed repeatedly", "Traceback", "Exception")
KINDS = {"invalid-event", "refused", "rejected-by-coveo", "unprocessable"}


def corpus() -> list[dict[str, Any]]:
    cases = [case for path in sorted(CORPUS.glob("*.json")) for case in json.loads(path.read_text())]
    big = [
        {
            "name": "document-id-too-long",
            "kind": "invalid-event",
            "reason": "data.documentId is 2,107 characters; at most 2,048",
            "message": _item("long", documentId="file://" + "a" * 2100),
        },
        {
            "name": "too-many-permissions",
            "kind": "refused",
            "reason": "has 5,001 permissions; Coveo allows at most 5,000 per item",
            "message": _item(
                "many",
                document={
                    "data": "x",
                    "permissions": [
                        {
                            "allowedPermissions": [
                                {"identity": f"u{i}@example.com", "identityType": "User"} for i in range(5001)
                            ]
                        }
                    ],
                },
            ),
        },
    ]
    return cases + big


def _item(name: str, **data: Any) -> dict[str, Any]:
    body = {
        "documentId": f"file://corpus/{name}.txt",
        "version": 1,
        "document": {"data": "x", "permissions": PERMISSIONS},
    }
    return {
        "specversion": "1.0",
        "id": f"bad-{name}",
        "source": "corpus",
        "type": "item.upserted",
        "data": {**body, **data},
    }


def body_of(message: Any) -> str:
    """The SQS body LocalStack.send makes of a message (a string is sent as it is)."""
    return message if isinstance(message, str) else json.dumps(message)


def specific(reason: str | None) -> bool:
    return bool(reason) and len(reason or "") >= 15 and not any(word in (reason or "") for word in GENERIC)


def test_the_corpus_is_large_and_each_case_is_different() -> None:
    cases = corpus()
    assert len(cases) >= 50
    assert len({case["name"] for case in cases}) == len(cases)
    assert len({body_of(case["message"]) for case in cases}) == len(cases)


def test_every_malformed_event_is_dead_lettered_with_its_reason_and_neighbours_land(
    rstack: ReliabilityStack,
) -> None:
    cases = corpus()
    neighbours = Workload(
        PROVIDER,
        identities=[group_event("team-000", 1, ["user-000", "user-001"]), alias_event("user-000", 1)],
        items=[
            item_event(f"file://corpus/ok-{i}.txt", 1, team="team-000", denied="user-001", provider=PROVIDER)
            for i in range(12)
        ],
    )
    # Bad and good interleaved so that every batch mixes them.
    mixed = [
        m
        for pair in itertools.zip_longest([c["message"] for c in cases], neighbours.items)
        for m in pair
        if m is not None
    ]
    send_all(rstack, neighbours.identities)
    send_all(rstack, mixed)
    drained = rstack.drain_with(workers=1)
    rstack.settle(timeout_s=20)

    # No crash: every batch answered with a partial batch response, nothing left to retry.
    for results in drained.values():
        assert all(r.drained and r.handler_errors == 0 and r.failed == 0 for r in results)
    dead = {d["body"]: d for d in rstack.dead_letters()}
    wrong = {}
    for case in cases:
        letter = dead.get(body_of(case["message"]) or "(empty message body)")
        if letter is None:
            wrong[case["name"]] = "not in a DLQ"
        elif (
            letter["reason"] is None
            or case["reason"] not in letter["reason"]
            or letter["errorKind"] != case["kind"]
        ):
            wrong[case["name"]] = f"{letter['errorKind']}: {letter['reason']}"
    assert wrong == {}
    assert len(dead) == len(cases)  # and nothing else was dead-lettered
    result = account(rstack, neighbours)
    assert result.lost() == [] and result.problems == [] and result.behind == {}


# --- hypothesis -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
VALID = [
    item_event("file://hypothesis/doc.txt", 1, team="team-000", denied="user-000", provider=PROVIDER),
    item_event(
        "file://hypothesis/gone.txt", 2, team="team-000", denied="user-000", provider=PROVIDER, delete=True
    ),
    group_event("hypothesis-group", 1, ["user-000", "user-001"]),
    group_event("hypothesis-group", 2, [], delete=True),
    alias_event("user-000", 1),
]


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one value replaced by arbitrary JSON, or removed."""
    return mutate_one_value(draw, draw(st.sampled_from(VALID)), json_values)


raw_bodies = st.one_of(
    json_values.map(json.dumps),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), min_size=1, max_size=40),
    st.builds(
        lambda event_type, data: json.dumps(
            {"specversion": "1.0", "id": "h", "source": "h", "type": event_type, "data": data}
        ),
        st.sampled_from((*EVENT_TYPES, "item.moved")),
        json_values,
    ),
)
# With text-level hostility json.dumps never writes (duplicate keys, NaN, deep nesting, surrogates).
messages = st.one_of(raw_bodies, mutated_events(), hostile_body())
_example = itertools.count()


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(messages, min_size=4, max_size=12))
def test_arbitrary_and_mutated_events_end_pushed_or_dead_lettered_with_a_reason(
    rstack: ReliabilityStack, batch: list[Any]
) -> None:
    # A valid neighbour per example, new each time, must land whatever surrounds it.
    neighbour = item_event(
        f"file://hypothesis/n{next(_example)}.txt", 1, team="team-000", denied="user-000", provider=PROVIDER
    )
    send_all(rstack, [group_event("team-000", 1, ["user-000"])])
    send_all(rstack, [*batch, neighbour])
    drained = rstack.drain_with(workers=1)
    for results in drained.values():
        assert all(r.drained and r.handler_errors == 0 for r in results)
    dead = {d["body"]: d for d in rstack.take_dead_letters()}
    for message in batch:
        body = body_of(message)
        # A body SQS could not carry (moto takes control characters; SQS would refuse them at
        # send) is dead-lettered with those characters escaped.
        letter = dead.get(sqs_text(body)[0]) or (
            dead.get("(empty message body)") if not body.strip() else None
        )
        if letter is not None:
            assert specific(letter["reason"]) and letter["errorKind"] in KINDS, letter
        else:
            assert rstack.recorder.by_body.get(body) in (Disposition.PUSHED, Disposition.STALE), body
    assert rstack.recorder.by_body[json.dumps(neighbour)] is Disposition.PUSHED


@pytest.mark.parametrize("kind", ["item", "identity"])
@settings(max_examples=150, deadline=None)
@given(batch=st.lists(messages, min_size=1, max_size=20))
def test_the_pipeline_settles_every_message_of_any_batch(kind: str, batch: list[Any]) -> None:
    """The same property without AWS or HTTP, many more times: no exception, one disposition per
    message, and a dead letter always says what is wrong."""
    dead_letters = FakeDeadLetters()
    pipeline = Pipeline(
        PipelineSettings(source_id="source", provider_id=PROVIDER, kind=kind),
        coveo=FakeCoveo(),
        ledger=InMemoryLedger(),
        dead_letters=dead_letters,
    )
    batch_messages = [Message(f"m{i}", body_of(m)) for i, m in enumerate(batch)]
    report = pipeline.process(batch_messages, lambda: 60.0)
    assert set(report.outcomes) == {m.message_id for m in batch_messages}
    assert report.count(Disposition.RETRY) == 0
    assert all(specific(letter.reason) and letter.kind in KINDS for letter in dead_letters.sent)
