"""Where Coveo's APIs live: one host set per region, or a single base URL (the local emulator)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Region(StrEnum):
    US = "us"
    CA = "ca"
    EU = "eu"
    AU = "au"


@dataclass(frozen=True)
class Endpoints:
    push: str  # .../push/v1
    logs: str  # .../logs/v1
    platform: str  # .../rest

    @classmethod
    def for_region(cls, region: Region | str = Region.US) -> Endpoints:
        region = Region(region)
        # The Push API still uses region-specific hosts; US has no suffix.
        suffix = "" if region is Region.US else f"-{region.value}"
        return cls(
            push=f"https://api{suffix}.cloud.coveo.com/push/v1",
            logs=f"https://api{suffix}.cloud.coveo.com/logs/v1",
            platform=f"https://platform{suffix}.cloud.coveo.com/rest",
        )

    @classmethod
    def from_base_url(cls, base_url: str) -> Endpoints:
        """Every API under one base URL, as the local emulator serves them."""
        base = base_url.rstrip("/")
        return cls(push=f"{base}/push/v1", logs=f"{base}/logs/v1", platform=f"{base}/rest")
