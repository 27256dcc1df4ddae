"""The network between a client and Coveo: a stated round trip per request, with jitter.

The server applies it: a request to any Coveo route (the Push API, the presigned upload, the Logs
API, the platform routes) waits half its round trip before it is handled (the request travelling)
and the other half before its answer is sent (the answer travelling), with ``asyncio.sleep``, so
concurrent requests overlap as they would over a network: N requests on N connections take about
one round trip, not N. Control routes (``/_emulator/…``) are never delayed.

Each delayed request draws its round trip from a uniform distribution on
``[rttMs - jitterMs, rttMs + jitterMs]`` (mean ``rttMs``, standard deviation ``jitterMs / √3``),
with one ``random.Random(seed)``, in the order requests reach the server: the same seed and the
same request sequence give the same delays. ``jitterMs`` may not exceed ``rttMs`` (no negative
round trip). Off (0 ms) by default.

Configured at start (``EmulatorConfig.latency_ms``, ``jitter_ms``, ``latency_seed``; the CLI's
``--latency-ms``, ``--jitter-ms``, ``--latency-seed``) and at run time::

    PUT /_emulator/latency {"rttMs": 100, "jitterMs": 10, "seed": 7}
    GET /_emulator/latency
"""

from __future__ import annotations

import math
import random
from typing import Any

# An hour: anything longer is a mistake, not a network.
MAX_RTT_MS = 3_600_000.0
DISTRIBUTION = "uniform"
_KEYS = ("rttMs", "jitterMs", "seed")


class LatencyConfigError(ValueError):
    pass


def check(rtt_ms: object, jitter_ms: object, seed: object) -> tuple[float, float, int]:
    """The three values as the model keeps them, or LatencyConfigError saying what is wrong."""
    for name, value in (("rttMs", rtt_ms), ("jitterMs", jitter_ms)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise LatencyConfigError(f"'{name}' must be a number of milliseconds")
        if not 0 <= value <= MAX_RTT_MS:
            raise LatencyConfigError(f"'{name}' must be between 0 and {MAX_RTT_MS:.0f} ms, not {value}")
    assert isinstance(rtt_ms, int | float) and isinstance(jitter_ms, int | float)
    if jitter_ms > rtt_ms:
        raise LatencyConfigError(
            f"'jitterMs' ({jitter_ms}) may not exceed 'rttMs' ({rtt_ms}): "
            f"the round trip is drawn from [rttMs - jitterMs, rttMs + jitterMs] and cannot be negative"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise LatencyConfigError("'seed' must be an integer")
    return float(rtt_ms), float(jitter_ms), seed


class Latency:
    """The round trip every Coveo route takes; `draw()` gives the next request's, in seconds."""

    def __init__(self, rtt_ms: float = 0.0, jitter_ms: float = 0.0, seed: int = 0) -> None:
        self._set(*check(rtt_ms, jitter_ms, seed))

    def _set(self, rtt_ms: float, jitter_ms: float, seed: int) -> None:
        """A new model: its own RNG from `seed`, its counts from zero."""
        self.rtt_ms, self.jitter_ms, self.seed = rtt_ms, jitter_ms, seed
        self._rng = random.Random(seed)  # a simulated network, not a secret
        self.delayed = 0
        self.total_ms = 0.0

    @property
    def active(self) -> bool:
        return self.rtt_ms > 0

    def draw(self) -> float:
        """The next request's round trip in seconds (counted in `delayed` and `total_ms`)."""
        ms = self.rtt_ms
        if self.jitter_ms:
            ms = self._rng.uniform(self.rtt_ms - self.jitter_ms, self.rtt_ms + self.jitter_ms)
        self.delayed += 1
        self.total_ms += ms
        return ms / 1000

    def configure(self, body: object) -> None:
        """`PUT /_emulator/latency`: `rttMs` required, `jitterMs` default 0, `seed` default the one
        in force. Anything else in the body is refused (a misspelt key would silently do nothing)."""
        if not isinstance(body, dict):
            raise LatencyConfigError("the body must be an object {rttMs, jitterMs, seed}")
        unknown = sorted(set(body) - set(_KEYS))
        if unknown:
            raise LatencyConfigError(
                f"unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(_KEYS)}"
            )
        if "rttMs" not in body:
            raise LatencyConfigError("'rttMs' is required (0 turns the latency off)")
        self._set(*check(body["rttMs"], body.get("jitterMs", 0), body.get("seed", self.seed)))

    def to_json(self) -> dict[str, Any]:
        return {
            "rttMs": self.rtt_ms,
            "jitterMs": self.jitter_ms,
            "seed": self.seed,
            "distribution": DISTRIBUTION,
            "appliesTo": "every Coveo route (Push API, presigned upload, Logs API, platform); "
            "not /_emulator/ control routes",
            "requestsDelayed": self.delayed,
            "meanDelayMs": round(self.total_ms / self.delayed, 3) if self.delayed else None,
        }
