"""Shared fixtures: one emulator per test module (real HTTP on 127.0.0.1), reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coveo_emulator.config import EmulatorConfig
from coveo_emulator.server import EmulatorServer
from tests.emulator.emulator_helpers import EMAIL, Coveo


@pytest.fixture(scope="module")
def emulator_config() -> EmulatorConfig:
    """Override in a test module to serve it with other limits."""
    return EmulatorConfig()


@pytest.fixture(scope="module")
def emulator_server(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator_config) as server:
        yield server


@pytest.fixture(scope="module")
def coveo_module(emulator_server: EmulatorServer) -> Iterator[Coveo]:
    coveo = Coveo(emulator_server.base_url)
    yield coveo
    coveo.http.close()


@pytest.fixture
def coveo(coveo_module: Coveo) -> Coveo:
    coveo_module.reset()
    return coveo_module


@pytest.fixture
def worked_identities(coveo: Coveo) -> Coveo:
    """Group AlphaTeam (alice, bob, david) and each member's alias in the Email Security Provider."""
    members = [{"name": n, "type": "USER"} for n in ("alice", "bob", "david")]
    assert (
        coveo.put_identity(
            {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "members": members}
        ).status_code
        == 202
    )
    for name in ("alice", "bob", "david"):
        body = {
            "identity": {"name": name, "type": "USER"},
            "mappings": [{"name": f"{name}@example.com", "type": "USER", "provider": EMAIL}],
        }
        assert coveo.put_mapping(body).status_code == 202
    return coveo
