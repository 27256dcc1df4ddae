"""Items Coveo rejected for an unknown identity wait, their re-pushes kept, while a push of an
identity they name is unsettled: pushing them again before it lands only spends the budget."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from connector.domain.ledger import Row, Status
from connector.domain.pipeline import Pipeline, PipelineSettings
from connector.domain.validator import Validator, ValidatorSettings
from tests import worked_example as wx
from tests.fakes import FakeContent, FakeCoveo, FakeDeadLetters
from tests.in_memory_ledger import InMemoryLedger
from tests.unit.test_validator import T0, Clock, FakeReader, entry, identity_event, item_event, pushed

GROUP_KEY = f"identity#{wx.PROVIDER_ID}#GROUP#AlphaTeam"
REJECTED = "unknown security identity: Group 'AlphaTeam'"


class Rig:
    """One ledger, the item and identity pipelines on it, and the validator re-pushing with them."""

    def __init__(
        self,
        *,
        max_repushes: int = 3,
        deadline_s: float = 3600,
        page_size: int = 1000,
        allow_public: bool = False,
    ) -> None:
        self.clock = Clock(T0)
        self.ledger = InMemoryLedger()
        self.coveo = FakeCoveo()
        self.pipelines = {
            kind: Pipeline(
                PipelineSettings(wx.SOURCE_ID, wx.PROVIDER_ID, kind, allow_public_items=allow_public),
                self.coveo,
                self.ledger,
                FakeDeadLetters(),
                FakeContent(),
                clock_ms=self.clock,
            )
            for kind in ("item", "identity")
        }
        self.reader = FakeReader()
        self.validator = Validator(
            ValidatorSettings(
                wx.SOURCE_ID,
                wx.PROVIDER_ID,
                processing_delay_s=0,
                deadline_s=deadline_s,
                max_repushes=max_repushes,
                page_size=page_size,
            ),
            self.ledger,
            self.reader,
            repush=lambda kind: self.pipelines[kind.value],
            clock_ms=self.clock,
        )

    def push_group(self, name: str = "AlphaTeam") -> None:
        group = {**wx.group_wire(), "identity": {"name": name, "type": "GROUP"}, "version": 1}
        pushed(self.pipelines["identity"], identity_event(f"g-{name}", "identity.upserted", group))

    def push_item(self, doc: str = "file://a", document: dict[str, Any] | None = None) -> None:
        event = item_event(doc)
        if document is not None:
            event["data"]["document"] = document
        pushed(self.pipelines["item"], event)

    def reject(self, doc: str = "file://a", error: str = REJECTED) -> None:
        self.reader.entries.append(entry(doc, "INDEXING", "REJECTED", self.clock.now + 1_000, error=error))

    def item_pushes(self, doc: str = "file://a") -> int:
        return sum(
            1
            for call in self.coveo.calls
            if (call.name == "push_item" and call.target == doc)
            or (call.name == "push_items" and any(item.document_id == doc for item in call.payload[0]))
        )

    def run(self, at_s: int) -> Any:
        self.clock.now = T0 + at_s * 1000
        return self.validator.run()


def row(rig: Rig, key: str) -> Row:
    found = rig.ledger.get(key)
    assert found is not None, key
    return found


def group_known(rig: Rig) -> None:
    rig.reader.cache = {"GROUP AlphaTeam": "UP_TO_DATE"}
    rig.reader.updated = {"GROUP AlphaTeam": rig.clock.now}
    rig.reader.members = {"GROUP AlphaTeam": [("User", name) for name in wx.MEMBERS]}


def test_an_item_waits_for_its_lost_group_then_is_re_pushed_once_and_verified() -> None:
    """The lost group is found at its deadline and re-pushed; meanwhile the item, rejected every run,
    keeps all its re-pushes, even after more runs than it has re-pushes."""
    rig = Rig()
    rig.push_group()  # accepted, then lost: the cache never hears of it
    rig.push_item()
    rig.reject()
    for minute in range(1, 8):
        report = rig.run(minute * 60)
        assert (report.repushed, report.failed, report.waiting_for_identity) == (0, 0, 1), minute
        assert report.pending == 2  # the group and the item
    item = row(rig, "item#file://a")
    assert (item.status, item.repushes, rig.item_pushes()) == (Status.ACCEPTED, 0, 1)

    # The group's deadline: it is re-pushed, and the item still waits (not pushed before it).
    report = rig.run(3_601)
    assert (report.repushed, report.waiting_for_identity) == (1, 1)
    assert row(rig, GROUP_KEY).repushes == 1 and rig.item_pushes() == 1

    # The group lands: the item is pushed again, once, and then verified.
    group_known(rig)
    report = rig.run(3_700)
    assert (report.verified, report.repushed, report.waiting_for_identity) == (1, 1, 0)
    assert row(rig, "item#file://a").repushes == 1 and rig.item_pushes() == 2
    rig.reader.entries.append(entry("file://a", "INDEXING", "COMPLETED", rig.clock.now + 1))
    assert rig.run(3_800).verified == 1
    assert row(rig, "item#file://a").status is Status.VERIFIED


def test_an_item_out_of_re_pushes_waits_rather_than_fails_while_its_group_is_unsettled() -> None:
    rig = Rig(max_repushes=0)
    rig.push_group()
    rig.push_item()
    rig.reject()
    report = rig.run(60)
    assert (report.failed, report.waiting_for_identity) == (0, 1)
    assert row(rig, "item#file://a").status is Status.ACCEPTED
    group_known(rig)
    report = rig.run(120)  # the group is verified: nothing left to wait for, no re-push to spend
    assert (report.verified, report.failed, report.waiting_for_identity) == (1, 1, 0)
    assert row(rig, "item#file://a").status is Status.FAILED
    assert rig.ledger.outcomes["item#file://a"][1] == REJECTED


def test_an_item_does_not_wait_for_a_group_it_does_not_name() -> None:
    rig = Rig()
    rig.push_group("BetaTeam")  # unsettled, but not the item's
    rig.push_item()
    rig.reject()
    report = rig.run(60)
    assert (report.repushed, report.waiting_for_identity) == (1, 0)
    assert rig.item_pushes() == 2


def test_an_identity_of_another_provider_with_the_group_s_name_is_not_a_reason_to_wait() -> None:
    rig = Rig()
    rig.push_group()
    document = wx.item_wire()
    document["permissions"][0]["allowedPermissions"] = [
        {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": wx.EMAIL_PROVIDER}
    ]
    rig.push_item(document=document)
    rig.reject(error=f"unknown security identity: Group 'AlphaTeam' in provider '{wx.EMAIL_PROVIDER}'")
    assert rig.run(60).repushed == 1


def test_an_unknown_identity_type_and_an_unnamed_provider_match_our_group() -> None:
    """`Unknown` matches every type, and a permission without a provider is the source's first
    provider's: ours."""
    rig = Rig()
    rig.push_group()
    document = wx.item_wire()
    document["permissions"][0]["allowedPermissions"] = [{"identity": "AlphaTeam", "identityType": "Unknown"}]
    rig.push_item(document=document)
    rig.reject()
    report = rig.run(60)
    assert (report.repushed, report.waiting_for_identity) == (0, 1)


def test_an_item_waits_for_the_alias_that_maps_onto_the_e_mail_user_it_names() -> None:
    rig = Rig()
    alias = {**wx.alias_wire("bob"), "version": 1}  # bob → bob@example.com in the e-mail provider
    pushed(rig.pipelines["identity"], identity_event("a-bob", "identity.aliased", alias))
    rig.push_item()  # denies User bob@example.com of the e-mail provider
    rig.reject(error=f"unknown security identity: User 'bob@example.com' in provider '{wx.EMAIL_PROVIDER}'")
    report = rig.run(60)
    assert (report.repushed, report.waiting_for_identity) == (0, 1)


def test_a_group_that_ends_failed_lets_its_items_go_on() -> None:
    """An identity Coveo holds IN_ERROR for a reason that does not pass is settled FAILED: the items
    naming it are re-pushed (and fail in their turn), they do not wait for ever."""
    rig = Rig()
    rig.push_group()
    rig.push_item()
    rig.reject()
    rig.reader.cache = {"GROUP AlphaTeam": "IN_ERROR"}  # "bad member": not retriable
    report = rig.run(60)
    assert row(rig, GROUP_KEY).status is Status.FAILED
    assert (report.repushed, report.waiting_for_identity) == (1, 0)


def test_other_rejections_of_an_item_naming_an_unsettled_group_do_not_wait() -> None:
    rig = Rig()
    rig.push_group()
    rig.push_item()
    rig.reject(error="metadata 'x' is a sub-object")
    report = rig.run(60)
    assert (report.failed, report.waiting_for_identity) == (1, 0)
    rig.push_item("file://b")
    rig.reject("file://b", error="internal error, try again")
    report = rig.run(120)
    assert (report.repushed, report.waiting_for_identity) == (1, 0)


def test_a_pending_delete_of_the_group_is_not_a_reason_to_wait() -> None:
    """A delete never makes an identity known: an item rejected for it goes on at once."""
    rig = Rig()
    gone = {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "version": 1}
    pushed(rig.pipelines["identity"], identity_event("d", "identity.deleted", gone))
    rig.push_item()
    rig.reject()
    report = rig.run(60)  # the cache still shows no DISABLED group: the delete is pending
    assert (report.pending, report.repushed, report.waiting_for_identity) == (2, 1, 0)


def test_a_group_pushed_with_the_unknown_type_makes_an_item_naming_a_group_wait() -> None:
    rig = Rig()
    unknown = {"identity": {"name": "AlphaTeam", "type": "UNKNOWN"}, "version": 1}  # no members
    pushed(rig.pipelines["identity"], identity_event("u", "identity.upserted", unknown))
    rig.push_item()  # grants Group AlphaTeam
    rig.reject()
    assert rig.run(60).waiting_for_identity == 1


def test_the_unknown_type_matches_every_type_of_that_name_only() -> None:
    rig = Rig()
    other = {"identity": {"name": "BetaTeam", "type": "UNKNOWN"}, "version": 1}
    pushed(rig.pipelines["identity"], identity_event("u", "identity.upserted", other))
    rig.push_group("GammaTeam")
    document = wx.item_wire()
    document["permissions"][0]["allowedPermissions"] = [{"identity": "AlphaTeam", "identityType": "Unknown"}]
    rig.push_item(document=document)
    rig.reject()
    report = rig.run(60)  # BetaTeam (any type) and GammaTeam are unsettled; neither is AlphaTeam
    assert (report.repushed, report.waiting_for_identity) == (1, 0)


def test_a_waiting_item_counts_in_the_oldest_pending_age() -> None:
    rig = Rig()
    rig.push_item()  # at T0
    rig.reject()
    rig.clock.now = T0 + 30_000
    rig.push_group()  # younger than the item
    report = rig.run(90)
    assert report.waiting_for_identity == 1
    assert report.oldest_pending_age_s == 90.0  # the item's age, not the group's 60 s


def test_rows_that_name_no_identity_do_not_wait_and_do_not_stop_the_run() -> None:
    """A rejection for an unknown identity on a row whose stored change names none (too large to
    keep, a delete, an item without permissions) goes on as before, beside an unsettled group."""
    rig = Rig(allow_public=True)
    rig.push_group()
    rig.push_item("file://big")
    accepted = rig.ledger.accepted["item#file://big"]
    rig.ledger.accepted["item#file://big"] = dataclasses.replace(accepted, change=None)  # too large to keep
    deleted = {
        "specversion": "1.0",
        "id": "e-gone",
        "source": "s",
        "type": "item.deleted",
        "data": {"documentId": "file://gone", "version": 1},
    }
    pushed(rig.pipelines["item"], deleted)
    rig.push_item("file://open", document={"title": "no permissions", "data": "public by the deployment"})
    for doc in ("file://big", "file://gone", "file://open"):
        rig.reject(doc)
    report = rig.run(60)
    assert report.waiting_for_identity == 0
    assert (report.repushed, report.failed) == (2, 1)  # nothing stored to push again: FAILED
    assert row(rig, "item#file://big").status is Status.FAILED


def test_a_run_that_fails_half_way_leaves_nothing_for_the_next_run_to_decide_twice() -> None:
    rig = Rig(page_size=1)
    rig.push_item("file://a")
    rig.clock.now = T0 + 1
    rig.push_item("file://b")
    rig.reject("file://a")
    rig.reject("file://b")
    reads = 0
    read_page = rig.ledger.rows_with_status

    def second_page_fails_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        if reads == 2:
            raise RuntimeError("the table is unavailable")
        return read_page(*args, **kwargs)

    rig.ledger.rows_with_status = second_page_fails_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        rig.run(60)
    report = rig.run(120)
    assert report.repushed == 2
    assert (row(rig, "item#file://a").repushes, row(rig, "item#file://b").repushes) == (1, 1)


@pytest.mark.parametrize(
    "error", [REJECTED, "Security identity 'AlphaTeam' is not yet known", "UNKNOWN SECURITY IDENTITY"]
)
def test_each_of_coveo_s_wordings_for_an_unknown_identity_makes_the_item_wait(error: str) -> None:
    rig = Rig()
    rig.push_group()
    rig.push_item()
    rig.reject(error=error)
    assert rig.run(60).waiting_for_identity == 1
