"""Emulator configuration: who the emulated organization is and which limits it enforces.

Every number Coveo documents as a limit is a field here so that tests can lower it (pushing 6 MB
in a unit test is slow; pushing 6 KB against a 6 KB limit shows the same behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coveo_emulator.latency import check as check_latency

MB = 1024 * 1024

# Coveo's built-in provider that holds e-mail users; aliases usually point at it.
EMAIL_SECURITY_PROVIDER = "Email Security Provider"


@dataclass
class EmulatorConfig:
    """What the emulated Coveo organization looks like. Defaults: the DESIGN.md worked example."""

    organization_id: str = "mycoveocloudv2organizationg8tp8wu3"
    source_id: str = "mysourceidg3c5d1r2"
    provider_id: str = "mysecurityidentityprovider8d9s8d"
    api_key: str = "xx-emulator-local-key"
    # Seconds between the 202 and the moment an operation takes effect (real Coveo: minutes).
    processing_delay_s: float = 0.0
    # Seconds between indexing an item and its permission model leaving the PENDING state.
    security_refresh_delay_s: float = 0.0
    # The network (coveo_emulator.latency): every Coveo route takes a round trip of latency_ms,
    # drawn uniformly within +/- jitter_ms, from an RNG seeded with latency_seed. 0: off.
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    latency_seed: int = 0

    # Documented limits (reference §4).
    max_request_bytes: int = 6 * MB
    max_inline_data_bytes: int = 5 * MB
    max_container_bytes: int = 256 * MB
    max_permissions_per_item: int = 5000
    container_ttl_s: float = 60 * 60.0
    log_retention_days: int = 14
    log_window_days: int = 7
    default_queue_delay_minutes: int = 15

    # Providers our security identity provider cascades to: aliases may only target these.
    cascading_providers: tuple[str, ...] = field(default_factory=lambda: (EMAIL_SECURITY_PROVIDER,))
    # Coveo leaves "equal orderingId" unspecified; by default an equal orderingId is applied
    # (a replay of the same version converges) and only a strictly lower one is skipped.
    skip_equal_ordering_id: bool = False
    # Index id served by GET /rest/organizations/{org}/indexes; derived from the org when empty.
    index_id: str = ""

    def __post_init__(self) -> None:
        if not self.index_id:
            self.index_id = f"{self.organization_id}-emulatorindex0"
        if self.processing_delay_s < 0 or self.security_refresh_delay_s < 0:
            raise ValueError("delays must be >= 0")
        check_latency(self.latency_ms, self.jitter_ms, self.latency_seed)  # a LatencyConfigError (ValueError)

    @property
    def known_providers(self) -> tuple[str, ...]:
        """Every provider whose identities can appear in a permission model."""
        return (self.provider_id, *self.cascading_providers)
