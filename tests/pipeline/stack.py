"""Fixtures for tests that run the connector locally, registered for every tier by the root
conftest.py (`pytest_plugins`): AWS emulated by one moto server, provisioned from template.yaml,
and the Coveo emulator.

- `moto_server` (session): a started `MotoServer` on a free 127.0.0.1 port. Make clients with
  `moto_server.client("sqs")` (fake credentials and region included; make one per thread).
- `sqs` (session): an SQS client on that server, for the test's own thread.
- `template_path` (session): the repository's template.yaml, the one source of truth.
- `local_api_key` (session): the Coveo API key the secret holds (distinctive, to scan output for).
- `local_resources` (function): a fresh provisioning of template.yaml for this test alone (its
  queues, DLQs, tables, buckets and secret carry a unique name prefix), so tests never share a
  message. Look things up by logical id: `local_resources.queues["ItemQueue"].url`.
- `coveo_server` (session): the emulator; `fresh_coveo(coveo_server)` resets it for one test.
- `stack` (function): a `LocalStack` on the test's own provisioning and a fresh emulator.

Do not start moto's in-process `mock_aws` in these tests: moto keeps one state per process, and
starting a mock resets it, wiping the server's queues under the other tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aws_simulator.cloudformation import LocalResources, provision_from_template
from aws_simulator.moto_server import MotoServer
from aws_simulator.stack import CoveoTarget, LocalStack
from connector.adapters.dynamodb_ledger import CLIENT_OPTIONS, DynamoDBLedger
from connector.adapters.s3_ledger_entries import S3LedgerEntries
from coveo_emulator.config import EmulatorConfig
from coveo_emulator.server import EmulatorServer

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


def fresh_coveo(server: EmulatorServer) -> CoveoTarget:
    """The emulator, emptied of earlier tests' items, identities, logs and faults."""
    httpx.post(f"{server.base_url}/_emulator/reset", json={}).raise_for_status()
    config = server.config
    return CoveoTarget(server.base_url, config.organization_id, config.source_id, config.provider_id)


@pytest.fixture(scope="session")
def coveo_server(local_api_key: str) -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=local_api_key)) as server:
        yield server


@pytest.fixture
def stack(
    moto_server: MotoServer,
    local_resources: LocalResources,
    coveo_server: EmulatorServer,
    template_path: Path,
) -> LocalStack:
    return LocalStack(
        moto_server,
        local_resources,
        fresh_coveo(coveo_server),
        template_path,
        overrides={"SAFETY_MARGIN_SECONDS": "1"},
        # Tests do not wait to fill batches; the template's window (5 s) is there for throughput.
        template_parameters={"MaximumBatchingWindowInSeconds": "0"},
    )


def emulator(stack: LocalStack, path: str, method: str = "GET", body: Any = None) -> Any:
    response = httpx.request(method, f"{stack.coveo.base_url}/_emulator/{path}", json=body)
    response.raise_for_status()
    return response.json()


def indexed(stack: LocalStack) -> dict[str, Any]:
    return {doc: item for doc, item in emulator(stack, "state")["items"].items() if item["indexed"]}


#: The key under which `access` reports whether an anonymous user may see the item.
ANONYMOUS = "(anonymous)"


def access(stack: LocalStack, document_id: str) -> dict[str, bool]:
    """Effective permissions of an item as the real route answers them: user → allowed, and
    `ANONYMOUS` → whether anyone at all may see it (the route's `anonymousAllowed`): a secured item
    that became public lets in every user whatever its allowed and denied lists say."""
    from urllib.parse import quote

    config = emulator(stack, "state")
    url = (
        f"{stack.coveo.base_url}/rest/organizations/{stack.coveo.organization_id}/indexes/{config['indexId']}"
        f"/documents/{quote(document_id, safe='')}/permissions/effective"
    )
    key = stack.runtime.coveo._auth["Authorization"]
    response = httpx.get(url, headers={"Authorization": key}, params={"perPage": 1000})
    response.raise_for_status()
    body = response.json()
    users = {entry["identity"]: entry["allowed"] for entry in body["items"]}
    return {**users, ANONYMOUS: body["anonymousAllowed"]}


def dynamodb_ledger(aws: MotoServer, resources: LocalResources, client: Any = None) -> DynamoDBLedger:
    """The DynamoDB ledger of provisioned resources, with its S3 entries, as the runtime builds it;
    `client`: a DynamoDB client to use instead of a fresh one (e.g. one that records calls)."""
    entries = S3LedgerEntries(aws.client("s3"), resources.buckets["LedgerBucket"])
    client = client or aws.client("dynamodb", **CLIENT_OPTIONS)
    return DynamoDBLedger(client, resources.tables["LedgerTable"], entries=entries)
