"""Fixtures for pipeline tests of the connector: the emulator plus a LocalStack on the test's own
provisioning. Registered for every test by the root conftest.py (`pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coveo_emulator.config import EmulatorConfig
from coveo_emulator.server import EmulatorServer
from coveo_push_cli.local_aws import LocalResources, MotoServer
from coveo_push_cli.local_stack import CoveoTarget, LocalStack


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
    httpx.post(f"{coveo_server.base_url}/_emulator/reset", json={}).raise_for_status()
    config = coveo_server.config
    target = CoveoTarget(coveo_server.base_url, config.organization_id, config.source_id, config.provider_id)
    return LocalStack(
        moto_server,
        local_resources,
        target,
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


def access(stack: LocalStack, document_id: str) -> dict[str, bool]:
    """Effective permissions of an item as the real route answers them: user → allowed."""
    from urllib.parse import quote

    config = emulator(stack, "state")
    url = (
        f"{stack.coveo.base_url}/rest/organizations/{stack.coveo.organization_id}/indexes/{config['indexId']}"
        f"/documents/{quote(document_id, safe='')}/permissions/effective"
    )
    key = stack.runtime.coveo._auth["Authorization"]
    response = httpx.get(url, headers={"Authorization": key}, params={"perPage": 1000})
    response.raise_for_status()
    return {entry["identity"]: entry["allowed"] for entry in response.json()["items"]}
