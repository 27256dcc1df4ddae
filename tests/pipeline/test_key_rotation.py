"""A rotated API key reaches warm functions (issue 15): moto's Secrets Manager, the Coveo emulator
over HTTP, and the real handlers kept warm across the rotation.

Rotating the key the way an operator does (the new key in the secret, the old one revoked in Coveo)
while the functions are warm: the first push after it is refused (401), the function reads the
secret again and sends the push once more with the new key, and the change lands on its first
delivery: nothing retried, nothing dead-lettered.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from aws_simulator.stack import IDENTITY_QUEUE, ITEM_QUEUE, LocalStack

from .stack import emulator, indexed

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = "file://folder/mytext.txt"
NEW_KEY = "rotated-test-api-key-0b7e4a12"


def worked_example() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    identities = json.loads((ROOT / "events/worked-example/identities.json").read_text())
    return identities, json.loads((ROOT / "events/worked-example/item.json").read_text())


def version(item: dict[str, Any], number: int) -> dict[str, Any]:
    event = copy.deepcopy(item)
    event["id"] = f"{item['id']}@{number}"
    event["data"]["version"] = number
    event["data"]["document"]["title"] = f"My text, version {number}"
    return event


def rotate(stack: LocalStack) -> None:
    """The operator's rotation: the new key into the secret, and Coveo accepts only the new key."""
    stack.aws.client("secretsmanager").put_secret_value(
        SecretId=stack.resources.api_key_secret_name, SecretString=NEW_KEY
    )
    emulator(stack, "api-key", "PUT", {"apiKey": NEW_KEY})


def test_a_key_rotated_while_the_functions_are_warm_is_picked_up_at_the_first_401(
    stack: LocalStack, local_api_key: str
) -> None:
    identities, item = worked_example()
    # One poller per function, kept for the whole test: the same handler, pipeline and Coveo client
    # (built at cold start, with the key read from the secret then) before and after the rotation.
    with stack.poller(IDENTITY_QUEUE) as identity_function, stack.poller(ITEM_QUEUE) as item_function:
        stack.send([*identities, version(item, 1)])
        identity_function.run_until_drained(60)
        before = item_function.run_until_drained(60)
        assert (before.received, before.deleted, before.failed) == (1, 1, 0)
        assert indexed(stack)[DOCUMENT]["metadata"]["title"] == "My text, version 1"
        assert "401" not in emulator(stack, "stats")["byStatus"]

        rotate(stack)
        stack.send([version(item, 2)])
        after = item_function.run_until_drained(60)

    # Pushed on its first delivery: the 401 was answered by re-reading the secret, not by SQS.
    assert (after.received, after.deleted, after.failed, after.handler_errors) == (1, 1, 0, 0)
    assert indexed(stack)[DOCUMENT]["metadata"]["title"] == "My text, version 2"
    assert stack.dead_letters() == []
    # Coveo refused the old key once; the resend with the new key, and everything after, got in.
    assert emulator(stack, "stats")["byStatus"]["401"] == 1
    # The validator, on the same warm client, verifies the change with the new key (no new 401).
    report = stack.validate()
    assert (report.verified, report.failed, report.pending) == (5, 0, 0)
    assert emulator(stack, "stats")["byStatus"]["401"] == 1
    assert stack.runtime.coveo._auth == {"Authorization": f"Bearer {NEW_KEY}"}
    assert local_api_key != NEW_KEY
