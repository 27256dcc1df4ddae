"""Handler-tier fixtures: the real Lambda handlers with in-memory adapters."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector.domain.pipeline import Pipeline, PipelineSettings
from tests import worked_example as wx
from tests.fakes import FakeContent, FakeCoveo, FakeDeadLetters
from tests.in_memory_ledger import InMemoryLedger

ROOT = Path(__file__).resolve().parents[2]


def load_handler(function: str) -> Callable[..., dict[str, Any]]:
    """Import functions/<function>/app.py as Lambda would (each function has its own `app` module)."""
    spec = importlib.util.spec_from_file_location(f"{function}_app", ROOT / "functions" / function / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler  # type: ignore[no-any-return]


def sqs_event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / "sqs" / name).read_text())  # type: ignore[no-any-return]


def make_pipeline(kind: str, **overrides: Any) -> Pipeline:
    settings = PipelineSettings(source_id=wx.SOURCE_ID, provider_id=wx.PROVIDER_ID, kind=kind, **overrides)
    return Pipeline(
        settings, FakeCoveo(), InMemoryLedger(), FakeDeadLetters(), FakeContent(), clock_ms=Clock()
    )


class Clock:
    """Milliseconds that advance by one each call: distinct, increasing orderingIds."""

    def __init__(self, start: int = 1_764_147_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


@pytest.fixture(scope="session")
def push_items() -> Callable[..., dict[str, Any]]:
    return load_handler("push_items")


@pytest.fixture(scope="session")
def push_identities() -> Callable[..., dict[str, Any]]:
    return load_handler("push_identities")
