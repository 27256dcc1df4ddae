"""bench/local_events.py: the event file for timing `coveo-push local` at scale must give a run in
which Coveo can index every item, i.e. every identity an item's permissions name is defined by an
event earlier in the file, and every event passes the connector's own boundary."""

from __future__ import annotations

import json

from bench import local_events, workload
from bench.common import PROVIDER
from connector.domain.events import parse_message


def test_every_identity_an_item_names_is_defined_before_the_items_and_every_event_parses() -> None:
    events = list(local_events.events(300))
    kinds = [event["type"] for event in events]
    first_item = kinds.index("item.upserted")
    assert set(kinds[first_item:]) == {"item.upserted"} and len(kinds) - first_item == 300
    defined: set[tuple[str, str]] = set()
    for event in events[:first_item]:
        data = event["data"]
        if event["type"] == "identity.upserted":
            defined.add((data["identity"]["name"], PROVIDER))
        else:
            assert event["type"] == "identity.aliased"
            defined |= {(m["name"], m["provider"]) for m in data["mappings"]}
    named = {
        (p["identity"], p["securityProvider"])
        for event in events[first_item:]
        for model in event["data"]["document"]["permissions"]
        for p in (*model["allowedPermissions"], *model["deniedPermissions"])
    }
    groups, users = workload.item_identities(300)
    assert named == {(g, PROVIDER) for g in groups} | {(u, workload.EMAIL_PROVIDER) for u in users}
    assert named <= defined
    assert len({event["id"] for event in events}) == len(events)
    for event in events:
        change = parse_message(json.dumps(event), provider_id=PROVIDER)
        assert change.event_id == event["id"]
