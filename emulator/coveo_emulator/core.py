"""The emulator's one mutable object: configuration, clock, state, pipeline, faults and stats.

Everything runs on the server's event loop, so no locks: handlers are ``async`` and never await
between reading and changing the state.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from coveo_emulator.config import EmulatorConfig
from coveo_emulator.faults import FaultInjector
from coveo_emulator.latency import Latency
from coveo_emulator.processing import Pipeline
from coveo_emulator.state import Clock, EmulatorState


class Stats:
    """Requests per route template ("PUT /push/v1/organizations/{organizationId}/..."), not per path."""

    def __init__(self) -> None:
        self.total = 0
        self.by_route: dict[str, int] = {}
        self.by_status: dict[int, int] = {}
        self.bytes_in = 0

    def to_json(self, faults_injected: int) -> dict[str, Any]:
        return {
            "total": self.total,
            "byRoute": dict(sorted(self.by_route.items())),
            "byStatus": {str(k): v for k, v in sorted(self.by_status.items())},
            "bytesIn": self.bytes_in,
            "faultsInjected": faults_injected,
        }


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.base_config = config
        self.config = config
        self.clock = Clock()
        self.faults = FaultInjector()
        self.latency = Latency(config.latency_ms, config.jitter_ms, config.latency_seed)
        self.stats = Stats()
        self.state = EmulatorState(self.clock)
        self.pipeline = Pipeline(config, self.state)
        # Signs uploadUri like a presigned S3 URL: a tampered URI gets S3's 403.
        self.upload_secret = secrets.token_bytes(16)
        self.set_api_key(config.api_key)

    def set_api_key(self, api_key: str) -> None:
        """The one key the organization accepts from now on (a rotation: the old key gets 401)."""
        self.api_key = api_key
        self.expected_authorization = f"Bearer {api_key}"

    def reset(
        self, processing_delay_s: float | None = None, security_refresh_delay_s: float | None = None
    ) -> None:
        """Forget everything (items, identities, containers, logs, queue, faults, stats, clock) and
        accept the configured API key again; the latency is the configured one again, re-seeded."""
        config = self.base_config
        if processing_delay_s is not None:
            config = replace(config, processing_delay_s=processing_delay_s)
        if security_refresh_delay_s is not None:
            config = replace(config, security_refresh_delay_s=security_refresh_delay_s)
        self.config = config
        self.set_api_key(config.api_key)
        self.clock.offset_ms = 0
        self.faults.clear()
        self.latency = Latency(config.latency_ms, config.jitter_ms, config.latency_seed)
        self.stats = Stats()
        self.state = EmulatorState(self.clock)
        self.pipeline = Pipeline(self.config, self.state)
