"""Fixtures of the reliability tier: a recording stack on the shared moto server and emulator."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from coveo_emulator.server import EmulatorServer
from tests.pipeline.stack import fresh_coveo

from .harness import ReliabilityStack

# Validator settings for the tier: no processing delay (the emulator applies at once), and a push
# with no verdict 2 s after its 202 is FAILED (production: 5 minutes and an hour).
TIER_OVERRIDES = {
    "SAFETY_MARGIN_SECONDS": "1",
    "PROCESSING_DELAY_SECONDS": "0",
    "VALIDATION_DEADLINE_SECONDS": "2",
    "MAX_REPUSHES": "3",
}
# Small batches so a few hundred events make enough requests for every fault class.
TIER_PARAMETERS = {
    "MaximumBatchingWindowInSeconds": "0",
    "ItemBatchSize": "10",
    "IdentityBatchSize": "10",
    "FunctionTimeoutSeconds": "30",
}


@pytest.fixture
def rstack(
    moto_server: MotoServer,
    local_resources: LocalResources,
    coveo_server: EmulatorServer,
    template_path: Path,
) -> ReliabilityStack:
    return ReliabilityStack(
        moto_server,
        local_resources,
        fresh_coveo(coveo_server),
        template_path,
        overrides=dict(TIER_OVERRIDES),
        template_parameters=dict(TIER_PARAMETERS),
    )


@pytest.fixture
def function_logs() -> Iterator[io.StringIO]:
    """What the functions' Powertools loggers write (CloudWatch in AWS), for this test only.

    Powertools configures a service's logger once per process, on the stream it saw first (an
    earlier test's, closed since): point those handlers here while the test runs.
    """
    written = io.StringIO()
    handlers = []
    for service in ("push_items", "push_identities", "validate_pushes"):
        Logger(service=service)
        handlers += [h for h in logging.getLogger(service).handlers if isinstance(h, logging.StreamHandler)]
    # Not setStream: it flushes the old stream first, and that may be a closed capture of an
    # earlier test (tests/template's `emitted` builds the loggers under capsys).
    previous = [_swap_stream(h, written) for h in handlers]
    yield written
    for handler, stream in zip(handlers, previous, strict=True):
        _swap_stream(handler, stream)


def _swap_stream(handler: logging.StreamHandler[Any], stream: Any) -> Any:
    with handler.lock or contextlib.nullcontext():
        previous, handler.stream = handler.stream, stream
    return previous
