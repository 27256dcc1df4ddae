"""Fixtures for pipeline tests: AWS emulated by one moto server, provisioned from template.yaml.

- `moto_server` (session): a started `MotoServer` on a free 127.0.0.1 port. Make clients with
  `moto_server.client("sqs")` (fake credentials and region included; make one per thread).
- `sqs` (session): an SQS client on that server, for the test's own thread.
- `template_path` (session): the repository's template.yaml, the one source of truth.
- `local_api_key` (session): the Coveo API key the secret holds (distinctive, to scan output for).
- `local_resources` (function): a fresh provisioning of template.yaml for this test alone (its
  queues, DLQs, tables, buckets and secret carry a unique name prefix), so tests never share a
  message. Look things up by logical id: `local_resources.queues["ItemQueue"].url`.

Do not start moto's in-process `mock_aws` in these tests: moto keeps one state per process, and
starting a mock resets it, wiping the server's queues under the other tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coveo_push_cli.local_aws import LocalResources, MotoServer, provision_from_template

ROOT = Path(__file__).resolve().parents[2]
_test_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def sqs(moto_server: MotoServer) -> Any:
    return moto_server.client("sqs")


@pytest.fixture(scope="session")
def template_path() -> Path:
    return ROOT / "template.yaml"


@pytest.fixture(scope="session")
def local_api_key() -> str:
    return "local-test-api-key-6f1d2c9e"


@pytest.fixture
def local_resources(moto_server: MotoServer, template_path: Path, local_api_key: str) -> LocalResources:
    return provision_from_template(
        template_path, moto_server, api_key=local_api_key, name_prefix=f"t{next(_test_numbers):04d}-"
    )
