"""The Coveo API key never leaves Secrets Manager and the Authorization header: not in logs, EMF
metrics, DLQ messages, ledger rows, validator reports, exception text or the `coveo-push local`
report. Each test runs the pipeline through what makes it talk most (faults, bad input, a killed
function, a refused key) and scans everything it wrote.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

from aws_simulator.cloudformation import provision_from_template
from aws_simulator.moto_server import MotoServer
from aws_simulator.stack import CoveoTarget
from coveo_emulator.server import EmulatorServer
from coveo_push_api import CoveoError

from .conftest import TIER_OVERRIDES, TIER_PARAMETERS
from .harness import (
    ITEM_QUEUE,
    FunctionKilled,
    ReliabilityStack,
    SignatureTamperer,
    item_event,
    make_workload,
    send_all,
)

WRONG_KEY = "xx-refused-key-4b7d0e93a1"  # what a rotated-out key looks like to Coveo


class Killed(FunctionKilled):
    """The function dies mid-invocation (no product code can catch it); its text is scanned too."""


class KilledAfterPush:
    """Coveo accepts the first batch, then the function dies (its exception text is scanned too)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def push_items(self, *args: Any, **kwargs: Any) -> Any:
        receipts = self.inner.push_items(*args, **kwargs)
        if self.armed:
            self.armed = False
            raise Killed(f"killed after pushing with {self.inner!r}")
        return receipts


def everything_written(stack: ReliabilityStack, drained: Any) -> dict[str, str]:
    """What the run left behind, by where an operator would read it."""
    return {
        "dead letters": json.dumps(stack.dead_letters()),
        "ledger": json.dumps(stack.ledger_rows(), default=repr),
        "batch errors": json.dumps(
            [b.handler_error for rs in drained.values() for r in rs for b in r.batches]
        ),
        "runtime": repr(stack.runtime) + repr(stack.runtime.settings) + repr(stack.runtime.coveo),
    }


def leaks(key: str, texts: dict[str, str]) -> list[str]:
    # The key, or its distinctive tail (a truncated key leaks too).
    return [where for where, text in texts.items() if key in text or key[-10:] in text]


def test_the_key_is_never_written_while_the_pipeline_struggles(
    rstack: ReliabilityStack,
    local_api_key: str,
    function_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every logger at INFO, the level the functions run at (the template sets no other); DEBUG is
    # test_debug_logging_never_writes_the_key below.
    caplog.set_level(logging.INFO)
    rstack.wrap = lambda p, q: (
        dataclasses.replace(p, coveo=KilledAfterPush(p.coveo)) if q == ITEM_QUEUE else p
    )
    # Each kind of Coveo error once (Retry-After 0 keeps it quick), and a refused upload.
    rstack.use_client(timeout_s=2.0, transport=SignatureTamperer(0.0, seed=3))
    rules = [
        {"route": "* /push/*", "action": action, "count": 2, "retryAfter": 0}
        for action in ("429", "503", "drop")
    ]
    rstack.emulator(
        "faults",
        "PUT",
        {"seed": 3, "rules": [*rules, {"route": "PUT */batch", "action": "lose", "count": 1}]},
    )
    workload = make_workload(24, 12, seed=3, provider=rstack.coveo.provider_id, group_versions=1)
    send_all(rstack, workload.identities)
    send_all(rstack, [*workload.items, "not json", {**workload.items[0], "type": "item.moved"}])
    drained = rstack.drain_with(workers=2)
    report = rstack.settle(timeout_s=20)
    errors = []
    try:  # an exception from Coveo, as a caller would see and log it
        rstack.runtime.coveo.get_security_cache_entity(rstack.coveo.provider_id, "nobody", "User")
    except CoveoError as error:
        errors.append("".join(traceback.format_exception(error)) + repr(error))
    output = capfd.readouterr()

    texts = everything_written(rstack, drained)
    texts.update(
        functions=function_logs.getvalue(),  # their JSON logs
        stdout=output.out,  # EMF metrics
        stderr=output.err,
        logging=caplog.text,  # every log record, tracebacks included
        validator=json.dumps(report),
        exceptions="\n".join(errors),
    )
    # The scan saw real output: metrics and the functions' logs of what they did.
    assert '"_aws"' in output.out
    assert "dead-lettered: message body is not JSON" in function_logs.getvalue()
    assert any(r.handler_errors for rs in drained.values() for r in rs)  # and a killed function
    assert errors
    assert leaks(local_api_key, texts) == []


def test_a_refused_key_is_never_written(
    moto_server: MotoServer,
    coveo_server: EmulatorServer,
    template_path: Path,
    function_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    resources = provision_from_template(
        template_path, moto_server, api_key=WRONG_KEY, name_prefix="wrongkey-"
    )
    config = coveo_server.config
    target = CoveoTarget(coveo_server.base_url, config.organization_id, config.source_id, config.provider_id)
    stack = ReliabilityStack(
        moto_server, resources, target, template_path, dict(TIER_OVERRIDES), dict(TIER_PARAMETERS)
    )
    provider = config.provider_id
    send_all(
        stack,
        [item_event(f"file://secret/{i}.txt", 1, team="t", denied="u", provider=provider) for i in range(3)],
    )
    drained = stack.drain_with(workers=1, timeout_s=60)
    output = capfd.readouterr()

    texts = everything_written(stack, drained)
    texts.update(
        functions=function_logs.getvalue(), stdout=output.out, stderr=output.err, logging=caplog.text
    )
    # Coveo refused the key on every delivery until SQS gave up on the messages.
    assert "INVALID_TOKEN" in function_logs.getvalue()
    assert len(stack.dead_letters()) == 3
    assert leaks(WRONG_KEY, texts) == []


def test_the_local_report_never_holds_the_key(
    rstack: ReliabilityStack, local_api_key: str, capfd: pytest.CaptureFixture[str]
) -> None:
    local_run = pytest.importorskip("coveo_push_cli.local_run", reason="`coveo-push local` is not built yet")
    workload = make_workload(10, 12, seed=5, provider=rstack.coveo.provider_id, group_versions=1)
    logs = io.StringIO()
    report = local_run.run_on_stack(
        rstack,
        [*workload.events, "not json"],
        faults={"seed": 5, "rules": [{"route": "* /push/*", "action": "503", "count": 3}]},
        timeout_s=60,
        function_logs=logs,
    )
    output = capfd.readouterr()
    texts = {
        "report": json.dumps(report),
        "function logs": logs.getvalue(),
        "stdout": output.out,
        "stderr": output.err,
    }
    assert report["events"]["sent"] == len(workload.events) + 1 and report["deadLetters"]
    assert leaks(local_api_key, texts) == []


def test_debug_logging_never_writes_the_key(
    rstack: ReliabilityStack, local_api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    workload = make_workload(4, 8, seed=1, provider=rstack.coveo.provider_id, group_versions=1)
    send_all(rstack, workload.events)
    rstack.drain_with(workers=1)
    leaked = sorted({record.name for record in caplog.records if local_api_key in record.getMessage()})
    assert leaked == []
