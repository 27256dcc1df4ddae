"""Product bugs the reliability tier found, each shown alone and deterministically.

Each test states what a user should get; all are fixed now and guard against regressions. A gap
found later goes here first as a strict xfail, so that its fix turns XPASS into a failure and the
marker comes off.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from connector.domain.pipeline import Message

from .harness import (
    IDENTITY_QUEUE,
    ITEM_QUEUE,
    ReliabilityStack,
    cloud_event,
    group_event,
    item_event,
    send_all,
)

DOC = "file://gaps/one.txt"


def doc(stack: ReliabilityStack, version: int) -> dict[str, object]:
    return item_event(DOC, version, team="AlphaTeam", denied="bob", provider=stack.coveo.provider_id)


def lose_next(stack: ReliabilityStack, route: str) -> None:
    """Coveo answers the next request to `route` with 202 and then drops the operation."""
    stack.emulator("faults", "PUT", {"seed": 1, "rules": [{"route": route, "action": "lose", "count": 1}]})


def row(stack: ReliabilityStack, key: str) -> dict[str, str]:
    return stack.ledger_rows()[key]


def indexed_rev(stack: ReliabilityStack) -> object:
    item = stack.emulator("state")["items"].get(DOC)
    return item["metadata"].get("rev") if item and item["indexed"] else None


def team(stack: ReliabilityStack) -> dict[str, Any]:
    """AlphaTeam as the security cache holds it."""
    entities = stack.emulator("state")["identities"][stack.coveo.provider_id]
    return next(entity for entity in entities if entity["name"] == "AlphaTeam")


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Return once `condition()` holds (polled); the timeout only stops a hung test."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        time.sleep(0.01)


def wait_until_fired(stack: ReliabilityStack, rule: int) -> None:
    """Return once the emulator has applied fault rule `rule` (a request reached it)."""
    wait_until(lambda: stack.emulator("faults")["rules"][rule]["fired"] > 0, f"fault rule {rule} fired")


def push_team(stack: ReliabilityStack, members: list[str]) -> None:
    send_all(stack, [group_event("AlphaTeam", 1, members)])
    stack.drain_with(workers=1)


def test_a_push_lost_after_its_202_is_pushed_again(rstack: ReliabilityStack) -> None:
    push_team(rstack, ["alice", "bob"])
    lose_next(rstack, "PUT */documents")
    send_all(rstack, [doc(rstack, 1)])
    rstack.drain_with(workers=1)
    rstack.settle(timeout_s=15)
    assert row(rstack, f"item#{DOC}")["status"] == "VERIFIED"
    assert indexed_rev(rstack) == 1


def test_a_lost_identity_update_is_not_verified(rstack: ReliabilityStack) -> None:
    push_team(rstack, ["alice"])
    lose_next(rstack, "PUT */permissions")
    send_all(rstack, [group_event("AlphaTeam", 2, ["alice", "bob"])])
    rstack.drain_with(workers=1)
    rstack.settle(timeout_s=15)
    # bob was added in v2: v2 is VERIFIED once the validator's re-push put him in the cache.
    assert row(rstack, f"identity#{rstack.coveo.provider_id}#GROUP#AlphaTeam")["status"] == "VERIFIED"
    assert sorted(m["name"] for m in team(rstack)["members"]) == ["alice", "bob"]


def test_a_lost_identity_delete_is_not_verified(rstack: ReliabilityStack) -> None:
    push_team(rstack, ["alice"])
    lose_next(rstack, "DELETE */permissions")
    send_all(rstack, [group_event("AlphaTeam", 2, [], delete=True)])
    rstack.drain_with(workers=1)
    rstack.settle(timeout_s=15)
    # The delete is VERIFIED once the re-push disabled the group: it grants nothing any more.
    assert row(rstack, f"identity#{rstack.coveo.provider_id}#GROUP#AlphaTeam")["status"] == "VERIFIED"
    assert team(rstack)["state"] == "DISABLED"


def test_a_lost_identity_update_is_not_verified_by_a_late_older_one(rstack: ReliabilityStack) -> None:
    # Two invocations at once: v1's push is slow and lands after v2 was sent; v2 is lost.
    rules = [
        {"route": "PUT */permissions", "action": "delay", "delaySeconds": 1.5, "count": 1},
        {"route": "PUT */permissions", "action": "lose", "count": 1},
    ]
    rstack.emulator("faults", "PUT", {"seed": 1, "rules": rules})
    pipeline = rstack.pipeline(IDENTITY_QUEUE)
    older = group_event("AlphaTeam", 1, ["alice", "bob"])
    first = threading.Thread(target=pipeline.process, args=([Message("m1", json.dumps(older))], lambda: 20.0))
    first.start()
    wait_until_fired(rstack, rule=0)  # v1's push is in Coveo's hands, held by the delay
    newer = group_event("AlphaTeam", 2, ["alice"])  # bob leaves the team
    pipeline.process([Message("m2", json.dumps(newer))], lambda: 20.0)
    first.join()
    rstack.settle(timeout_s=15)
    # v2 is VERIFIED only once the cache lists alice alone: the validator saw bob still listed and
    # pushed v2 again. (Verified with bob listed, bob would keep seeing the team's documents.)
    assert row(rstack, f"identity#{rstack.coveo.provider_id}#GROUP#AlphaTeam")["status"] == "VERIFIED"
    assert sorted(m["name"] for m in team(rstack)["members"]) == ["alice"]


def test_a_lost_item_update_is_not_verified_by_the_version_before(rstack: ReliabilityStack) -> None:
    rstack.emulator("reset", "POST", {"processingDelaySeconds": 1.5})  # Coveo takes minutes
    push_team(rstack, ["alice", "bob"])
    send_all(rstack, [doc(rstack, 1)])
    rstack.drain_with(workers=1)
    lose_next(rstack, "PUT */documents")
    send_all(rstack, [doc(rstack, 2)])
    rstack.drain_with(workers=1)
    # The trap: v1 is indexed (its log entry is there) before the validator first looks at v2.
    wait_until(lambda: indexed_rev(rstack) == 1, "v1 indexed")
    rstack.settle(timeout_s=15)
    # v1's success does not verify v2: v2 is found missing, re-pushed, and lands.
    assert rstack.emulator("faults")["rules"][0]["fired"] == 1  # v2's first push was really lost
    assert (row(rstack, f"item#{DOC}")["status"], row(rstack, f"item#{DOC}")["version"]) == ("VERIFIED", "2")
    assert indexed_rev(rstack) == 2


def test_a_late_older_push_does_not_fail_the_newer_one(rstack: ReliabilityStack) -> None:
    push_team(rstack, ["alice", "bob"])
    # Two invocations at once (Lambda runs several): v1's push is slow, v2's overtakes it.
    rstack.emulator(
        "faults",
        "PUT",
        {
            "seed": 1,
            "rules": [{"route": "PUT */documents", "action": "delay", "delaySeconds": 1.5, "count": 1}],
        },
    )
    pipeline = rstack.pipeline(ITEM_QUEUE)
    first = threading.Thread(
        target=pipeline.process, args=([Message("m1", json.dumps(doc(rstack, 1)))], lambda: 20.0)
    )
    first.start()
    wait_until_fired(rstack, rule=0)  # v1's push is in Coveo's hands, held by the delay
    pipeline.process([Message("m2", json.dumps(doc(rstack, 2)))], lambda: 20.0)
    first.join()
    rstack.settle(timeout_s=15)
    assert indexed_rev(rstack) == 2
    assert row(rstack, f"item#{DOC}")["status"] == "VERIFIED"


def test_a_message_superseded_in_its_batch_is_logged_with_its_own_event_id(
    rstack: ReliabilityStack, function_logs: io.StringIO
) -> None:
    push_team(rstack, ["alice", "bob"])
    send_all(rstack, [doc(rstack, 1), doc(rstack, 2)])
    with rstack.poller(ITEM_QUEUE) as poller:
        batch = poller.poll_once()
    assert batch is not None and batch.received == 2
    lines = [json.loads(line) for line in function_logs.getvalue().splitlines() if line.startswith("{")]
    skipped = [line.get("event_id") for line in lines if line["message"].startswith("skipped as stale")]
    assert skipped == [f"{DOC}@1"]


def test_undecodable_content_is_dead_lettered_at_once(rstack: ReliabilityStack) -> None:
    push_team(rstack, ["alice"])
    event = doc(rstack, 1)
    document = event["data"]["document"]  # type: ignore[index]
    del document["data"]
    document.update(
        compressedBinaryData=base64.b64encode(b"plain text, not zlib").decode(), compressionType="ZLIB"
    )
    send_all(rstack, [event])
    rstack.drain_with(workers=1)
    reasons = [d["reason"] for d in rstack.dead_letters()]
    assert reasons == [
        f"item {DOC!r}: compressionType says ZLIB but it is not valid ZLIB data (Error -3 while "
        "decompressing data: incorrect header check); compress the content that way, or set "
        "compressionType to how it is encoded"
    ]
    assert f"item#{DOC}" not in rstack.ledger_rows()  # never pushed


def test_deleting_an_identity_coveo_never_had_is_verified(rstack: ReliabilityStack) -> None:
    send_all(
        rstack,
        [
            cloud_event(
                "gone@2", "identity.deleted", {"identity": {"name": "Gone", "type": "GROUP"}, "version": 2}
            )
        ],
    )
    rstack.drain_with(workers=1)
    rstack.settle(timeout_s=15)
    assert row(rstack, f"identity#{rstack.coveo.provider_id}#GROUP#Gone")["status"] == "VERIFIED"


def test_a_change_retried_until_sqs_gives_up_is_dead_lettered_with_a_reason(rstack: ReliabilityStack) -> None:
    # Coveo refuses the key on every delivery (rotated in Coveo, not yet in the secret).
    rstack.aws.client("secretsmanager").put_secret_value(
        SecretId=rstack.resources.api_key_secret_name, SecretString="xx-rotated-away"
    )
    send_all(rstack, [doc(rstack, 1)])
    rstack.drain_with(workers=1, timeout_s=60)
    (letter,) = rstack.dead_letters()
    assert letter["eventId"] == f"{DOC}@1"
    # A person reading the DLQ learns why: the connector gave up on the last delivery, with Coveo's 401.
    assert "gave up after 5 deliveries" in (letter["reason"] or ""), letter
    assert "401" in (letter["reason"] or ""), letter
    assert letter["errorKind"] == "retries-exhausted"
