"""Identities: 1,000 group changes through push_identities, beside the official client one by one."""

from __future__ import annotations

from typing import Any

from . import workload
from .common import Servers, log
from .items import _brief, _official, run_connector, summarize


def measure(
    servers: Servers, *, count: int, connector_runs: int, official_runs: int
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    runs: dict[str, list[dict[str, Any]]] = {"connector": [], "official_one_by_one": []}
    for attempt in range(max(connector_runs, official_runs)):
        if attempt < official_runs:
            spec = {"coveo_url": servers.coveo_url, "count": count}
            runs["official_one_by_one"].append(_official(servers, "official:identities_one_by_one", spec))
            log(
                f"  {count} groups: official_one_by_one run {attempt + 1}: {_brief(runs['official_one_by_one'][-1])}"
            )
        if attempt < connector_runs:
            events = (workload.group_event(workload.group(i)) for i in range(count))
            runs["connector"].append(run_connector(servers, "IdentityQueue", events, validate=True))
            log(f"  {count} groups: connector run {attempt + 1}: {_brief(runs['connector'][-1])}")
    return {name: summarize(results) for name, results in runs.items()}, runs
