"""How long `coveo-push local` waits before it stops and says so: a light module, read by the
command line (for its help) and by the run (for the default)."""

from __future__ import annotations

DEFAULT_TIMEOUT_S = 120.0
# ... plus this per event sent: a local run drains and validates about 200-500 events a second on a
# 2-core machine, so a run of 50,000 gets 620 s rather than timing out at 120 while it progresses.
TIMEOUT_PER_EVENT_S = 0.01


def run_timeout_s(given: float | None, events: int) -> float:
    """The run's timeout: the one given, else one that grows with the events to send."""
    return given if given is not None else DEFAULT_TIMEOUT_S + TIMEOUT_PER_EVENT_S * events
