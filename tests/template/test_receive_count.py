"""The functions dead-letter a failing message on the delivery the queues make the last one: both
must read the same maxReceiveCount, or SQS moves it first without a reason (or it gives up early)."""

from __future__ import annotations

from pathlib import Path

from aws_simulator.cloudformation import load_template

TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")


def test_the_functions_and_the_queues_share_one_max_receive_count() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    for queue in ("ItemQueue", "IdentityQueue"):
        redrive = TEMPLATE["Resources"][queue]["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}, queue
    parameter = TEMPLATE["Parameters"]["MaxReceiveCount"]
    # AWS's advice for Lambda triggers: at least 5.
    assert parameter["Default"] == 5 and parameter["MinValue"] == 5
