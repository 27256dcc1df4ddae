"""What the strict boundary costs: `strict_json.loads` and the whole `parse_message` against Python's
`json.loads` of the same body, in the same process and run (ratios, not absolute times).

Three bodies: a typical item event (2.5 KB), an item with 5,000 permissions (Coveo's per-item cap;
every permission an object, the worst case for the duplicate-key hook and the depth check), and an
item with 2,000 flat metadata keys.
"""

from __future__ import annotations

import json
import statistics
import timeit
from typing import Any

from connector.domain import strict_json
from connector.domain.events import parse_message

PROVIDER = "mysecurityidentityprovider8d9s8d"
GROUP = {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": PROVIDER}


def _event(document: dict[str, Any]) -> str:
    data = {"documentId": "file://bench/a.txt", "version": 1, "document": document}
    return json.dumps(
        {"specversion": "1.0", "id": "b", "source": "bench", "type": "item.upserted", "data": data}
    )


def bodies() -> dict[str, str]:
    permissions = [{"allowAnonymous": False, "allowedPermissions": [GROUP]}]
    many = [
        {
            "allowedPermissions": [
                {
                    "identity": f"u{i}@example.com",
                    "identityType": "User",
                    "securityProvider": "Email Security Provider",
                }
                for i in range(5000)
            ]
        }
    ]
    metadata = {f"field{i}": f"value {i}" for i in range(2000)}
    return {
        "typical_2kb": _event({"data": "x" * 2000, "title": "t", "permissions": permissions}),
        "permissions_5000": _event({"data": "x", "permissions": many}),
        "metadata_2000_keys": _event({"data": "x", "permissions": permissions, **metadata}),
    }


def _per_call_us(function: Any, text: str, budget_s: float = 0.5) -> float:
    number = max(1, int(budget_s / max(timeit.timeit(lambda: function(text), number=1), 1e-6)))
    runs = [timeit.timeit(lambda: function(text), number=number) / number for _ in range(5)]
    return statistics.median(runs) * 1e6


def measure() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, text in bodies().items():
        baseline = _per_call_us(json.loads, text)
        strict = _per_call_us(strict_json.loads, text)
        parsed = _per_call_us(lambda t: parse_message(t, provider_id=PROVIDER), text)
        results[name] = {
            "bytes": len(text.encode()),
            "json_loads_us": round(baseline, 1),
            "strict_json_us": round(strict, 1),
            "parse_message_us": round(parsed, 1),
            "strict_vs_json": round(strict / baseline, 2),
        }
    return results
