"""Property tests at the boundary (hypothesis), without AWS or HTTP, many examples each:

1. never public unless the event's permission set holds the JSON literal `"allowAnonymous": true`
   (or the deployment allows public items);
2. a bad message never changes a neighbour's disposition;
3. every message gets exactly one disposition, and a dead-lettered one is dead-lettered once;
4. parsing raises nothing but our refusal type.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.domain.errors import InvalidEvent
from connector.domain.events import parse_message
from connector.domain.pipeline import Disposition, Message, Pipeline
from connector.domain.policy import declared_public
from tests import worked_example as wx
from tests.handler.conftest import make_pipeline

PROVIDER = wx.PROVIDER_ID
GROUP = {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": PROVIDER}
EXAMPLES = 400


def item_event(n: int, permissions: Any = None) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"e-{n}",
        "source": "urn:test",
        "type": "item.upserted",
        "time": "2026-11-26T10:00:00Z",
        "data": {
            "documentId": f"file://p/{n}.txt",
            "version": 1,
            "document": {
                "data": "x",
                "title": "t",
                "permissions": permissions
                if permissions is not None
                else [{"allowAnonymous": False, "allowedPermissions": [GROUP]}],
            },
        },
    }


def identity_event(n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"i-{n}",
        "source": "urn:test",
        "type": "identity.upserted",
        "data": {"identity": {"name": f"g{n}", "type": "GROUP"}, "members": [{"name": "u", "type": "USER"}]},
        "time": "2026-11-26T10:00:00Z",
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.sampled_from(["yes", "true", "1", "", " ", "\ud800", "file://x\n", "javascript:x"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (keys and indexes), for mutating one value at a time."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += json_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += json_paths(child, (*prefix, index))
    return found


def mutate_one_value(
    draw: st.DrawFn, valid: dict[str, Any], values: st.SearchStrategy[Any]
) -> dict[str, Any]:
    """A copy of `valid` with one value (anywhere) replaced by a drawn one, or removed."""
    event = copy.deepcopy(valid)
    path = draw(st.sampled_from(json_paths(event)))
    parent = event
    for step in path[:-1]:
        parent = parent[step]
    if draw(st.booleans()):
        parent[path[-1]] = draw(values)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    return event


@st.composite
def mutated_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one value replaced by arbitrary JSON, or removed."""
    valid = draw(st.sampled_from([item_event(1), item_event(2, [{"allowAnonymous": True}])]))
    return mutate_one_value(draw, valid, json_values)


# Text-level edits Python's json.dumps never writes: the inputs a lenient reader gets wrong.
TEXT_EDITS = [
    lambda t: t.replace('"allowAnonymous": false', '"allowAnonymous": false, "allowAnonymous": true'),
    lambda t: t.replace('"permissions": [', '"permissions": [{"allowAnonymous": true}], "permissions": ['),
    lambda t: t.replace('"allowAnonymous": false', '"allowAnonymous": "yes"'),
    lambda t: t.replace('"allowAnonymous": false', '"allowAnonymous": 1'),
    lambda t: t.replace('"title": "t"', '"title": NaN'),
    lambda t: t.replace('"title": "t"', '"title": 1e400'),
    lambda t: t.replace('"title": "t"', '"title": "\\ud800"'),
    lambda t: t.replace('"title": "t"', '"title": ' + "[" * 40 + "]" * 40),
    lambda t: t.replace('.txt"', '.txt\\n"'),
    lambda t: t.replace('"version": 1', '"version": 99999999999999999999999999999999999999999'),
    lambda t: t.replace('"version": 1', '"version": "1"'),
    lambda t: t.replace('"time": "2026-11-26T10:00:00Z"', '"time": "1960-01-01T00:00:00Z"'),
    lambda t: t.replace('"file://p/', '"javascript://p/'),
    lambda t: t.replace('"identity": "AlphaTeam"', '"identity": " "'),
    lambda t: t.replace(f'"securityProvider": "{PROVIDER}"', '"securityProvider": "Elsewhere"'),
    lambda t: t.replace('"data": "x"', '"compressedBinaryDataFileId": "f"'),
    lambda t: t[: len(t) // 2],
]


@st.composite
def hostile_body(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return json.dumps(draw(mutated_event()))
    if kind == 1:
        text = json.dumps(item_event(draw(st.integers(1, 3))))
        return draw(st.sampled_from(TEXT_EDITS))(text)  # type: ignore[no-any-return]
    if kind == 2:
        return json.dumps(draw(json_values))
    return draw(st.text(max_size=60))


def wire_sets(call: Any) -> list[tuple[str, dict[str, Any]]]:
    """(documentId, permission set as sent) of every item a Coveo call pushed."""
    if call.name == "push_item":
        bodies = [(call.target, call.payload.to_wire())]
    elif call.name == "push_items":
        bodies = [(b.document_id, b.to_wire()) for b in call.payload[0]]
    else:
        return []
    found = []
    for document_id, body in bodies:
        for element in body.get("permissions", []):
            for permission_set in element.get("permissionSets", [element]):
                found.append((document_id, permission_set))
    return found


def run(pipeline: Pipeline, bodies: list[str]) -> Any:
    messages = [Message(f"m{i}", body) for i, body in enumerate(bodies)]
    return messages, pipeline.process(messages, lambda: 60.0)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(hostile_body(), min_size=1, max_size=12), allow_public=st.booleans())
def test_never_public_unless_the_event_said_true_and_every_message_settles_once(
    batch: list[str], allow_public: bool
) -> None:
    neighbour = json.dumps(item_event(999))
    pipeline = make_pipeline("item", allow_public_items=allow_public)
    messages, report = run(pipeline, [*batch, neighbour])

    # 3. exactly one disposition each; a dead letter once; nothing left to retry from bad input.
    assert set(report.outcomes) == {m.message_id for m in messages}
    dead = [o for o in report.outcomes.values() if o.disposition is Disposition.DEAD_LETTERED]
    assert len(pipeline.dead_letters.sent) == len(dead)  # type: ignore[attr-defined]
    assert report.count(Disposition.RETRY) == 0
    # 2. the neighbour is pushed whatever surrounds it.
    assert report.outcomes[messages[-1].message_id].disposition is Disposition.PUSHED
    # 1. a set open to anonymous users went out only where its event said the JSON literal true.
    declared: dict[str, bool] = {}
    for message in messages:
        if report.outcomes[message.message_id].disposition is Disposition.PUSHED:
            data = json.loads(message.body)["data"]
            declared[data["documentId"]] = declared.get(data["documentId"], False) or declared_public(data)
    for call in pipeline.coveo.calls:  # type: ignore[attr-defined]
        for document_id, permission_set in wire_sets(call):
            if permission_set.get("allowAnonymous") is not False:
                assert permission_set.get("allowAnonymous") is True
                assert declared.get(document_id) or allow_public, (document_id, permission_set)


@settings(max_examples=EXAMPLES, deadline=None)
@given(batch=st.lists(hostile_body(), min_size=1, max_size=8))
def test_a_bad_message_never_changes_a_neighbours_disposition(batch: list[str]) -> None:
    neighbours = [json.dumps(item_event(1000 + i)) for i in range(2)] + [json.dumps(identity_event(7))]
    item_alone = run(make_pipeline("item"), neighbours[:2])[1]
    _, mixed = run(make_pipeline("item"), [neighbours[0], *batch, neighbours[1]])
    assert mixed.outcomes["m0"].disposition is item_alone.outcomes["m0"].disposition is Disposition.PUSHED
    last = f"m{len(batch) + 1}"
    assert mixed.outcomes[last].disposition is item_alone.outcomes["m1"].disposition
    # The identity pipeline, fed the same bad input, still pushes its neighbour.
    _, identities = run(make_pipeline("identity"), [*batch, neighbours[2]])
    assert identities.outcomes[f"m{len(batch)}"].disposition is Disposition.PUSHED


@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(body=hostile_body())
def test_parsing_raises_nothing_but_our_refusal_type(body: str) -> None:
    try:
        parse_message(body, provider_id=PROVIDER)
    except InvalidEvent as refusal:
        assert refusal.reason and "Traceback" not in refusal.reason
        refusal.reason.encode("utf-8")  # a reason is always sendable
