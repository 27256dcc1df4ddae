"""An event file for timing `coveo-push local` at scale: N of the benchmark's small items, after the
identities their permissions name, so that Coveo can index every item and the validator verifies it.

    .venv/bin/python -m bench.local_events 10000 /tmp/events-10k.jsonl
    .venv/bin/coveo-push local --events /tmp/events-10k.jsonl --quiet --report /tmp/report.json

The identities come first in the file: one group event per team the items name (our provider; its
members are the team's owners), and one alias event per user the items allow or deny (onto the
Email Security Provider, as the bench pushes them straight to Coveo). For N >= 97 that is 50 group
and 128 alias events, so "10,000 items" means 10,178 events.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import workload


def events(count: int) -> Iterator[dict[str, Any]]:
    groups, users = workload.item_identities(count)
    members: dict[str, set[str]] = {}
    for index in range(min(count, 500)):  # a team's members: the owners of its first items
        fields = workload.item(index)
        members.setdefault(fields["allowedGroup"], set()).add(fields["allowedUser"])
    for name in groups:
        yield workload.group_event({"name": name, "members": sorted(members[name])})
    for user in users:
        yield workload.event(
            f"alias-{user}",
            "identity.aliased",
            {
                "identity": {"name": user, "type": "USER"},
                "mappings": [{"name": user, "type": "USER", "provider": workload.EMAIL_PROVIDER}],
                "version": 1,
            },
        )
    for index in range(count):
        yield workload.item_event(workload.item(index))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    with Path(argv[1]).open("w", encoding="utf-8") as out:
        written = sum(out.write(json.dumps(event) + "\n") > 0 for event in events(int(argv[0])))
    print(f"{written} events in {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
