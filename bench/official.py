"""The baselines: Coveo's official Python client (push_api_clientpy 1.1.2) against the emulator.

Its base URLs are hard-coded to api.cloud.coveo.com; the only way to point it elsewhere is to
replace its name-mangled private URL methods. Over http it retries nothing (its retry adapter is
mounted on https:// only), and it never raises: every response is checked here.
"""

from __future__ import annotations

import time
from typing import Any

from .common import API_KEY, ORG, PROVIDER, SOURCE


def _source(base_url: str) -> Any:
    from push_api_clientpy import Source, platformclient

    client = platformclient.PlatformClient
    client._PlatformClient__basePushURL = lambda self: (
        f"{base_url}/push/v1/organizations/{self.organizationid}"
    )  # type: ignore[attr-defined]
    client._PlatformClient__basePlatformURL = lambda self: (
        f"{base_url}/rest/organizations/{self.organizationid}"
    )  # type: ignore[attr-defined]
    return Source(API_KEY, ORG)


def _items(spec: dict[str, Any]) -> list[dict[str, Any]]:
    from .workload import item

    return [item(i, large=spec["large"]) for i in range(spec["count"])]


def items_one_by_one(spec: dict[str, Any]) -> dict[str, Any]:
    """`Source.addOrUpdateDocument` per item; building each DocumentBuilder is part of the work."""
    from .workload import official_document

    source = _source(spec["coveo_url"])
    items = _items(spec)
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    for fields in items:
        response = source.addOrUpdateDocument(SOURCE, official_document(fields))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    elapsed = time.perf_counter() - started
    return {"items": len(items), "seconds": elapsed, "statuses": statuses}


def items_batch(spec: dict[str, Any]) -> dict[str, Any]:
    """`Source.batchUpdateDocuments`: one file container for everything, no chunking, no checks."""
    from push_api_clientpy import BatchUpdate

    from .workload import official_document

    source = _source(spec["coveo_url"])
    items = _items(spec)
    started = time.perf_counter()
    batch = BatchUpdate(addOrUpdate=[official_document(fields) for fields in items], delete=[])
    response = source.batchUpdateDocuments(SOURCE, batch)
    elapsed = time.perf_counter() - started
    return {"items": len(items), "seconds": elapsed, "statuses": {response.status_code: 1}}


def identities_one_by_one(spec: dict[str, Any]) -> dict[str, Any]:
    """`Source.createOrUpdateSecurityIdentity` per group."""
    from .workload import group, official_group

    source = _source(spec["coveo_url"])
    groups = [group(i) for i in range(spec["count"])]
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    for fields in groups:
        response = source.createOrUpdateSecurityIdentity(PROVIDER, official_group(fields))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    elapsed = time.perf_counter() - started
    return {"items": len(groups), "seconds": elapsed, "statuses": statuses}
