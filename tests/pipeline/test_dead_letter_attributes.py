"""What a dead letter carries, read back from SQS (moto): the reason and its kind, who dead-lettered
it and when, the event's id and type, and a body SQS can carry, all within SQS's message size."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from connector.adapters.sqs_dead_letters import SqsDeadLetters

_queues = itertools.count(1)
SQS_MAX_MESSAGE_BYTES = 262_144  # 256 KiB: SQS refuses a message whose body and attributes exceed it


@pytest.fixture
def dlq(sqs: Any) -> tuple[Any, str]:
    url = sqs.create_queue(QueueName=f"dead-letter-attributes-{next(_queues)}")["QueueUrl"]
    return sqs, url


def dead_letter(dlq: tuple[Any, str], body: str, **fields: Any) -> dict[str, Any]:
    """Send one through SqsDeadLetters and read it back: {"body": ..., attribute: value, ...}."""
    sqs, url = dlq
    sent: dict[str, Any] = {
        "reason": "bad input",
        "kind": "InvalidEvent",
        "event_id": None,
        "event_type": None,
    }
    SqsDeadLetters(sqs, url, "push_items").send(body, **(sent | fields))
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], MaxNumberOfMessages=10)[
        "Messages"
    ]
    attributes = {name: a["StringValue"] for name, a in message["MessageAttributes"].items()}
    types = {name: a["DataType"] for name, a in message["MessageAttributes"].items()}
    return {"body": message["Body"], "types": types, **attributes}


def sqs_size(letter: dict[str, Any], without: str = "") -> int:
    """Bytes SQS counts: the body, and each attribute's name, type and value."""
    size = len(letter["body"].encode())
    for name, data_type in letter["types"].items():
        if name != without:
            size += len(name) + len(data_type) + len(letter[name].encode())
    return size


def test_a_dead_letter_says_why_who_when_and_which_event(dlq: tuple[Any, str]) -> None:
    before = int(time.time() * 1000)
    letter = dead_letter(
        dlq,
        '{"id": "e-1"}',
        reason="permissions missing: a secured item needs them",
        kind="InvalidEvent",
        event_id="e-1",
        event_type="item.upserted",
    )
    after = int(time.time() * 1000)
    assert letter["body"] == '{"id": "e-1"}'
    assert letter["reason"] == "permissions missing: a secured item needs them"
    assert (letter["errorKind"], letter["deadLetteredBy"]) == ("InvalidEvent", "push_items")
    assert (letter["eventId"], letter["eventType"]) == ("e-1", "item.upserted")
    assert letter["types"]["deadLetteredAt"] == "Number"
    assert before <= int(letter["deadLetteredAt"]) <= after
    assert "bodyEscaped" not in letter


def test_a_message_with_no_event_id_or_type_has_no_such_attributes(dlq: tuple[Any, str]) -> None:
    letter = dead_letter(dlq, "not json", event_id="", event_type=None)
    assert "eventId" not in letter and "eventType" not in letter
    assert letter["reason"] == "bad input"


def test_an_empty_body_and_an_empty_kind_still_go_with_placeholders(dlq: tuple[Any, str]) -> None:
    letter = dead_letter(dlq, "", kind="")
    assert letter["body"] == "(empty message body)"
    assert letter["errorKind"] == "-"


def test_a_long_reason_is_cut_to_1000_characters_and_long_ids_to_256(dlq: tuple[Any, str]) -> None:
    letter = dead_letter(dlq, "{}", reason="r" * 5_000, event_id="i" * 900, event_type="t" * 900)
    assert len(letter["reason"]) == 1_000 and letter["reason"].endswith("…")
    assert len(letter["eventId"]) == 256 and len(letter["eventType"]) == 256


def test_a_reason_of_exactly_1000_characters_goes_whole(dlq: tuple[Any, str]) -> None:
    assert dead_letter(dlq, "{}", reason="r" * 1_000)["reason"] == "r" * 1_000


def test_a_body_sqs_cannot_carry_is_escaped_and_the_letter_says_so(dlq: tuple[Any, str]) -> None:
    letter = dead_letter(dlq, "a\x00b\ud800c", reason="bad\x07reason")
    assert letter["body"] == "a\\u0000b\\ud800c"
    assert "bodyEscaped" in letter
    assert "\x07" not in letter["reason"]
    plain = dead_letter(dlq, "tab\tnewline\nemoji 🎉")
    assert plain["body"] == "tab\tnewline\nemoji 🎉" and "bodyEscaped" not in plain


def test_beside_a_body_near_the_sqs_limit_the_reason_shrinks_only_as_much_as_it_must(
    dlq: tuple[Any, str],
) -> None:
    """The whole reason goes while body + attributes + 16 bytes of slack fit in SQS's 256 KiB; past
    that it halves (1000, 500, 250 characters), never below 200."""
    probe = dead_letter(dlq, "x")
    others = sqs_size(probe, without="reason") - 1  # every attribute but the reason, without the body
    whole_fits = SQS_MAX_MESSAGE_BYTES - others - len("reason") - 16 - 1_000  # the largest such body

    letter = dead_letter(dlq, "x" * whole_fits, reason="r" * 1_000)
    assert letter["reason"] == "r" * 1_000
    assert sqs_size(letter) <= SQS_MAX_MESSAGE_BYTES

    letter = dead_letter(dlq, "x" * (whole_fits + 1), reason="r" * 1_000)
    assert len(letter["reason"]) == 500
    assert sqs_size(letter) <= SQS_MAX_MESSAGE_BYTES

    letter = dead_letter(dlq, "x" * (whole_fits + 800), reason="r" * 5_000)
    assert len(letter["reason"]) == 200  # the floor: a readable sentence even where it cannot fit


def test_a_dead_letter_names_the_events_type_whenever_it_could_be_read(stack: Any) -> None:
    """The type was fine and the data was not: the DLQ message still says which type of event
    failed, in each envelope; only a body whose type cannot be read goes without one."""
    import json

    from tests.pipeline.test_item_pipeline import upsert

    no_document_id = upsert("file://a", 1)
    del no_document_id["data"]["documentId"]
    bad_version = {**upsert("file://b", 1), "id": "e-bad-version"}
    bad_version["data"]["version"] = "one"
    eventbridge = {
        "version": "0",
        "id": "e-eventbridge",
        "detail-type": "item.deleted",
        "source": "test",
        "time": "2026-11-26T09:10:00Z",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [],
        "detail": {"version": 1},  # no documentId
    }
    inner = {**upsert("file://c", 1), "id": "e-sns"}
    inner["data"]["document"]["bad"] = {"nested": "metadata"}  # metadata may not be an object
    sns = json.dumps({"Type": "Notification", "MessageId": "m", "Message": json.dumps(inner)})
    stack.send([no_document_id, bad_version, eventbridge, sns, "not json"])
    stack.drain()
    letters = {dead["body"]: dead["eventType"] for dead in stack.dead_letters()}
    assert letters == {
        json.dumps(no_document_id): "item.upserted",
        json.dumps(bad_version): "item.upserted",
        json.dumps(eventbridge): "item.deleted",
        sns: "item.upserted",
        "not json": None,
    }
