"""`coveo-push send` / `sync` without I/O (issue 19): reading the three file forms with where each
event came from, the contract check and routing, the batching arithmetic, the retries of a partial
failure, and how a sync's changes get their syncId."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import pytest

from connector.domain.events import Kind
from coveo_push_cli.producer import in_sync, with_sync_id
from coveo_push_cli.send import (
    MAX_BATCH_BYTES,
    Event,
    Read,
    Sender,
    Tally,
    Where,
    batches,
    message_size,
    read_events,
    route,
)


def item(n: int, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"e{n}",
        "source": "urn:test",
        "type": "item.upserted",
        "data": {
            "documentId": f"file://share/doc-{n}.txt",
            "version": 1,
            "document": {"title": f"doc {n}", "data": "x", "permissions": [{"allowAnonymous": True}]},
            **data,
        },
    }


def group(name: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"g-{name}",
        "source": "urn:test",
        "type": "identity.upserted",
        "data": {"identity": {"name": name, "type": "GROUP"}, "members": [], "version": 1},
    }


def sync_event(kind: str, sync_id: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{sync_id}-{kind}",
        "source": "urn:test",
        "type": f"sync.{kind}",
        "data": {"syncId": sync_id, **data},
    }


def jsonl(*events: Any) -> bytes:
    return "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events).encode()


# --- reading ------------------------------------------------------------------------------------


def test_json_lines_report_a_bad_line_by_its_number_and_read_on() -> None:
    events, bad = route(read_events("f.jsonl", jsonl(item(1), "{not json", item(2), "", item(3)))[0])
    assert [e.where.line for e in events] == [1, 3, 5]
    assert len(bad) == 1 and bad[0].where == Where("f.jsonl", 2)
    assert str(bad[0]).startswith("f.jsonl:2: ") and "not JSON" in bad[0].reason


def test_an_array_gives_each_element_its_line_and_index() -> None:
    text = "[\n" + ",\n".join(json.dumps(item(n), indent=1) for n in range(3)) + "\n]\n"
    reads, bad = read_events("a.json", text.encode())
    assert not bad
    assert [r.where.index for r in reads] == [0, 1, 2]
    lines = text.splitlines()
    for read in reads:
        assert lines[read.where.line - 1].startswith("{")
    assert json.loads(reads[1].text) == item(1)


def test_one_pretty_printed_object_is_one_event() -> None:
    reads, bad = read_events("one.json", json.dumps(item(7), indent=2).encode())
    assert not bad and len(reads) == 1 and reads[0].where.line == 1


def test_a_broken_array_keeps_what_came_before_and_says_where_it_broke() -> None:
    text = "[" + json.dumps(item(1)) + ",\n" + json.dumps(item(2)) + ",\n{oops}\n]"
    reads, bad = read_events("a.json", text.encode())
    assert len(reads) == 2
    assert bad[0].where == Where("a.json", 3, 2) and "the rest of the array cannot be read" in bad[0].reason
    assert str(bad[0]).startswith("a.json:3 [index 2]: ")


def test_an_empty_file_has_no_events_and_no_errors() -> None:
    assert read_events("e", b"") == ([], [])
    assert read_events("e", b"  \n\n") == ([], [])
    assert read_events("e", b"[]") == ([], [])


def test_two_values_on_one_line_are_refused() -> None:
    events, bad = route(read_events("f", jsonl(json.dumps(item(1)) + " " + json.dumps(item(2)), item(3)))[0])
    assert [e.where.line for e in events] == [2] and bad[0].where.line == 1 and "Extra data" in bad[0].reason


def test_bytes_that_are_not_utf8_are_one_bad_line() -> None:
    data = jsonl(item(1)) + b'{"id": "\xff"}\n' + jsonl(item(2))
    events, bad = route(read_events("f", data)[0])
    assert len(events) == 2 and len(bad) == 1 and bad[0].where.line == 2 and "UTF-8" in bad[0].reason


# --- checking and routing -----------------------------------------------------------------------


def reads_of(*events: Any) -> list[Read]:
    return read_events("in", jsonl(*events))[0]


def test_routing_by_type_and_a_scopeless_completed_follows_its_started() -> None:
    events, bad = route(
        reads_of(
            item(1),
            group("A"),
            sync_event("started", "s1", scope="identities"),
            sync_event("completed", "s1", count=1),
            sync_event("completed", "s2", count=1, scope="items"),
        )
    )
    assert not bad
    assert [e.queue for e in events] == [Kind.ITEM, Kind.IDENTITY, Kind.IDENTITY, Kind.IDENTITY, Kind.ITEM]


def test_a_scopeless_completed_without_its_started_needs_a_queue() -> None:
    lone = sync_event("completed", "s9", count=3)
    events, bad = route(reads_of(lone))
    assert not events and "pass --queue" in bad[0].reason
    events, bad = route(reads_of(lone), queue=Kind.IDENTITY)
    assert not bad and events[0].queue is Kind.IDENTITY


def test_a_forced_queue_refuses_what_belongs_elsewhere() -> None:
    events, bad = route(reads_of(item(1), group("A")), queue=Kind.ITEM)
    assert len(events) == 1 and bad[0].where.line == 2
    assert "belongs on the identity queue, not the item queue" in bad[0].reason


def test_contract_violations_are_bad_with_the_connectors_reason_unless_raw() -> None:
    unknown = {**item(1), "type": "item.renamed"}
    no_uri = item(2, documentId="not a uri")
    events, bad = route(reads_of(unknown, no_uri, item(3)))
    assert len(events) == 1
    assert "unknown event type 'item.renamed'" in bad[0].reason
    assert "is not a URI" in bad[1].reason
    raw_events, raw_bad = route(reads_of(unknown, no_uri, "not json"), raw=True)
    # raw: each goes to the queue its type names (the connector dead-letters it); text has no type
    assert [(e.where.line, e.queue, e.change) for e in raw_events] == [
        (1, Kind.ITEM, None),
        (2, Kind.ITEM, None),
    ]
    assert [b.where.line for b in raw_bad] == [3] and "pass --queue" in raw_bad[0].reason
    forced, none_bad = route(reads_of(unknown, "not json"), raw=True, queue=Kind.ITEM)
    assert len(forced) == 2 and not none_bad


def test_an_event_over_the_message_limit_is_bad_even_raw() -> None:
    big = item(1)
    big["data"]["document"]["data"] = "x" * (MAX_BATCH_BYTES + 1)
    for raw in (False, True):
        events, bad = route(reads_of(big, item(2)), raw=raw)
        assert len(events) == 1 and bad[0].where.line == 1
        assert "an SQS message holds at most 262,144" in bad[0].reason and "contentRef" in bad[0].reason


def test_a_character_sqs_refuses_is_bad() -> None:
    event = item(1)
    event["data"]["document"]["title"] = "a\ufffeb"
    events, bad = route(reads_of(json.dumps(event, ensure_ascii=False)))
    assert not events and "U+FFFE" in bad[0].reason


# --- batching -----------------------------------------------------------------------------------


def test_batches_are_ten_messages_or_the_byte_limit_whichever_comes_first() -> None:
    assert [len(b) for b in batches([100] * 25)] == [10, 10, 5]
    quarter = MAX_BATCH_BYTES // 4
    assert [list(b) for b in batches([quarter] * 5)] == [[0, 1, 2, 3], [4]]
    assert [list(b) for b in batches([quarter + 1, quarter, quarter, quarter, 1])] == [[0, 1, 2], [3, 4]]
    assert list(batches([MAX_BATCH_BYTES, 1])) == [range(0, 1), range(1, 2)]
    assert list(batches([])) == []
    with pytest.raises(ValueError, match="over the"):
        list(batches([1, MAX_BATCH_BYTES + 1]))


def test_every_batch_fits_both_limits_and_keeps_the_order() -> None:
    import random

    rng = random.Random(19)
    sizes = [rng.choice([10, 1_000, 30_000, 100_000, MAX_BATCH_BYTES]) for _ in range(2_000)]
    spans = list(batches(sizes))
    assert [i for span in spans for i in span] == list(range(len(sizes)))
    assert all(len(s) <= 10 and sum(sizes[i] for i in s) <= MAX_BATCH_BYTES for s in spans)
    # greedy: the next message would not have fitted in the batch before it
    for span, following in itertools.pairwise(spans):
        assert len(span) == 10 or sum(sizes[i] for i in span) + sizes[following[0]] > MAX_BATCH_BYTES


def test_message_size_counts_utf8_bytes_and_attributes_as_sqs_does() -> None:
    assert message_size("é€") == 5
    attributes: dict[str, dict[str, Any]] = {
        "kind": {"DataType": "String", "StringValue": "ab"},
        "b": {"DataType": "Binary", "BinaryValue": b"\0\1"},
    }
    assert message_size("x", attributes) == 1 + (4 + 6 + 2) + (1 + 6 + 2)


# --- sending ------------------------------------------------------------------------------------


class FlakySqs:
    """Fails entries as told: by body, a list of (code, sender fault) per try."""

    def __init__(self, script: dict[str, list[tuple[str, bool]]]) -> None:
        self.script = script
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        with self.lock:
            self.calls.append([e["MessageBody"] for e in Entries])
        ok, failed = [], []
        for entry in Entries:
            plan = self.script.get(entry["MessageBody"], [])
            if plan:
                code, sender = plan.pop(0)
                failed.append({"Id": entry["Id"], "Code": code, "Message": "no", "SenderFault": sender})
            else:
                ok.append({"Id": entry["Id"], "MessageId": "m"})
        return {"Successful": ok, "Failed": failed}


def events_of(bodies: list[str]) -> list[Event]:
    return [Event(Where("f", n + 1), body, Kind.ITEM, None) for n, body in enumerate(bodies)]


def test_partial_failures_are_retried_with_backoff_and_sender_faults_reported() -> None:
    bodies = [f"m{n}" for n in range(12)]
    sqs = FlakySqs(
        {
            "m1": [("InternalError", False), ("ServiceUnavailable", False)],
            "m11": [("InvalidMessageContents", True)],
        }
    )
    slept: list[float] = []
    tally = Tally(total=12)
    Sender(sqs, {Kind.ITEM: "url"}, tally, concurrency=1, sleep=slept.append).send(events_of(bodies))
    assert tally.sent_total == 11 and tally.calls == 4
    assert sqs.calls[1:3] == [["m1"], ["m1"]]  # only the failed entry again, twice
    assert slept == [0.2, 0.4]
    assert [(f.event.body, f.code) for f in tally.failed] == [("m11", "InvalidMessageContents")]
    assert str(tally.failed[0]) == "f:12: not sent, InvalidMessageContents: no"


def test_an_entry_that_keeps_failing_is_given_up_after_its_tries() -> None:
    sqs = FlakySqs({"m0": [("InternalError", False)] * 10})
    tally = Tally(total=1)
    Sender(sqs, {Kind.ITEM: "url"}, tally, attempts=3, sleep=lambda s: None).send(events_of(["m0"]))
    assert len(sqs.calls) == 3 and tally.sent_total == 0 and tally.failed[0].code == "InternalError"


# --- a sync's changes ---------------------------------------------------------------------------


def test_sync_sets_the_sync_id_in_every_envelope_and_refuses_what_is_not_its_change() -> None:
    sns = {"Type": "Notification", "Message": json.dumps(item(2))}
    bridge = {
        "id": "eb-1",
        "detail-type": "item.deleted",
        "source": "s",
        "time": "2026-01-01T00:00:00Z",
        "detail": {"documentId": "file://x/y"},
    }
    inputs = [
        item(1),
        sns,
        bridge,
        item(4, syncId="S"),
        item(5, syncId="other"),
        group("A"),
        sync_event("completed", "S", count=1, scope="items"),
    ]
    events, bad = route(reads_of(*inputs))
    assert not bad
    kept, refused = in_sync(events, "S", Kind.ITEM)
    assert [e.where.line for e in kept] == [1, 2, 3, 4]
    assert json.loads(kept[0].body)["data"]["syncId"] == "S"
    assert json.loads(json.loads(kept[1].body)["Message"])["data"]["syncId"] == "S"
    assert json.loads(kept[2].body)["detail"]["syncId"] == "S"
    reasons = {b.where.line: b.reason for b in refused}
    assert "not this sync's 'S'" in reasons[5]
    assert "not a change of a items sync" in reasons[6]
    assert "sends its own sync.started and sync.completed" in reasons[7]


def test_with_sync_id_keeps_the_rest_of_the_event() -> None:
    original = item(1)
    assert json.loads(with_sync_id(json.dumps(original), "S")) == {
        **original,
        "data": {**original["data"], "syncId": "S"},
    }
