"""The stale guard's rules, coalescing, and the deployment's refusals (pure, in memory)."""

from __future__ import annotations

import json
import threading

import pytest

from connector.domain.coalesce import coalesce
from connector.domain.errors import RefusedChange
from connector.domain.events import IdentityAlias, IdentityUpsert, parse_message
from connector.domain.ledger import Claim, ClaimResult, Head, Status, claimable
from connector.domain.policy import check_identity, check_item
from coveo_push_api.models import ItemBody, MappedIdentityBody
from tests import worked_example as wx
from tests.in_memory_ledger import InMemoryLedger


def claim(version: int, ordering: int, key: str = "item#a") -> Claim:
    return Claim(key, version, ordering, "e", "item.upserted", "a", 1)


class TestGuard:
    @pytest.mark.parametrize(
        ("head", "version", "ordering", "expected"),
        [
            (Head("k", 1, 10, Status.ACCEPTED), 2, 11, True),  # newer
            (Head("k", 2, 10, Status.ACCEPTED), 1, 11, False),  # older
            (Head("k", 2, 10, Status.ACCEPTED), 2, 11, False),  # duplicate of a pushed version
            (Head("k", 2, 10, Status.CLAIMED), 2, 11, True),  # redelivery of an unpushed claim
            (Head("k", 2, 10, Status.VERIFIED), 2, 11, False),
            (Head("k", 1, 12, Status.ACCEPTED), 2, 11, False),  # orderingId must grow too
        ],
    )
    def test_claimable(self, head: Head, version: int, ordering: int, expected: bool) -> None:
        assert claimable(head, version, ordering) is expected

    def test_claim_outcomes(self) -> None:
        ledger = InMemoryLedger()
        assert ledger.claim(claim(2, 10)) is ClaimResult.CLAIMED
        assert ledger.claim(claim(1, 11)) is ClaimResult.STALE
        assert ledger.claim(claim(3, 9)) is ClaimResult.CONFLICT  # newer, but a higher orderingId was taken

    def test_concurrent_claims_leave_the_newest(self) -> None:
        ledger = InMemoryLedger()
        versions = list(range(1, 41))
        threads = [
            threading.Thread(target=ledger.claim, args=(claim(v, 1000 + v),)) for v in reversed(versions)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ledger.rows["item#a"].version == 40


def test_coalesce_keeps_newest_and_first_of_equals() -> None:
    def change(event_id: str, version: int, doc: str = "file://a") -> tuple[str, object]:
        body = {
            "specversion": "1.0",
            "id": event_id,
            "source": "s",
            "type": "item.deleted",
            "data": {"documentId": doc, "version": version},
        }
        return event_id, parse_message(json.dumps(body), provider_id="p")

    result = coalesce(
        [change("a1", 1), change("b1", 5, "file://b"), change("a3", 3), change("a3dup", 3), change("a2", 2)]
    )  # type: ignore[list-item]
    assert [(m, c.version) for m, c in result.winners] == [("a3", 3), ("b1", 5)]
    assert sorted(m for m, _, _ in result.superseded) == ["a1", "a2", "a3dup"]
    # Each superseded message keeps its own change (its event id, for the log) and names its successor.
    assert {m: (c.event_id, newer.version) for m, c, newer in result.superseded}["a1"] == ("a1", 3)


class TestItemPolicy:
    def test_secured_item_passes(self) -> None:
        body = ItemBody.from_wire(wx.item_wire())
        assert check_item("file://a", body, allow_public=False, max_permissions=5000) is body

    def test_explicitly_public_item_passes_in_a_secured_deployment(self) -> None:
        body = ItemBody.from_wire({"data": "x", "permissions": [{"allowAnonymous": True}]})
        assert check_item("file://a", body, allow_public=False, max_permissions=5000) is body

    def test_empty_permission_list_is_no_permissions(self) -> None:
        with pytest.raises(RefusedChange, match="has no permissions"):
            check_item(
                "file://a",
                ItemBody.from_wire({"data": "x", "permissions": []}),
                allow_public=False,
                max_permissions=5000,
            )


class TestIdentityPolicy:
    def check(self, payload: object) -> object:
        return check_identity(
            payload, alias_providers=frozenset({wx.EMAIL_PROVIDER}), default_alias_provider=wx.EMAIL_PROVIDER
        )  # type: ignore[arg-type]

    def test_alias_without_provider_gets_the_default(self) -> None:
        body = MappedIdentityBody.model_validate(
            {"identity": {"name": "a", "type": "USER"}, "mappings": [{"name": "a@x.com", "type": "USER"}]}
        )
        checked = self.check(IdentityAlias(body))
        assert isinstance(checked, IdentityAlias)
        assert checked.body.mappings[0].provider == wx.EMAIL_PROVIDER

    def test_alias_to_a_provider_not_cascaded_to_is_refused(self) -> None:
        body = MappedIdentityBody.model_validate(
            {
                "identity": {"name": "a", "type": "USER"},
                "mappings": [{"name": "a", "type": "USER", "provider": "Okta"}],
            }
        )
        with pytest.raises(
            RefusedChange,
            match="targets provider 'Okta', which this deployment's provider does not cascade to",
        ):
            self.check(IdentityAlias(body))

    @pytest.mark.parametrize(
        ("wire", "reason"),
        [
            (
                {"identity": {"name": "alice", "type": "USER"}, "members": [{"name": "x", "type": "USER"}]},
                "only GROUP and VIRTUAL_GROUP identities hold members",
            ),
            (
                {"identity": {"name": "g", "type": "GROUP"}, "wellKnowns": [{"name": "bob", "type": "USER"}]},
                "granted identities must be GROUP or VIRTUAL_GROUP",
            ),
            (
                {"identity": {"name": "g", "type": "GROUP"}, "members": [{"name": "g", "type": "GROUP"}]},
                "lists itself as a member",
            ),
        ],
    )
    def test_identity_refusals(self, wire: dict[str, object], reason: str) -> None:
        from coveo_push_api.models import IdentityBody

        with pytest.raises(RefusedChange, match=reason):
            self.check(IdentityUpsert(IdentityBody.model_validate(wire)))
