"""The DynamoDB ledger's claims on moto, where a claim's outcome hangs on one detail of its request:
a batch of two claims is one transaction; a transaction the table fails for a reason of its own
raises instead of passing for claimed; a full sync's refresh claims again exactly the pushes made
before it began (alone and inside a transaction); an acceptance recorded by another container (a
Lambda container that did not make the claim) finds its claim on the head; and two claims of one
key never share a transaction. (Cases mutation testing of the adapter found unguarded.)"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from aws_simulator.cloudformation import LocalResources, provision_from_template
from aws_simulator.moto_server import MotoServer
from connector.adapters.dynamodb_ledger import CLIENT_OPTIONS, DynamoDBLedger
from connector.domain.errors import PermanentError
from connector.domain.ledger import Claim, ClaimResult, Status
from tests import ledger_transitions as lt

from .stack import dynamodb_ledger as make_ledger
from .test_dynamodb_ledger_transactions import Recording


@pytest.fixture(scope="module")
def resources(moto_server: MotoServer, template_path: Path, local_api_key: str) -> LocalResources:
    """One ledger (as template.yaml declares it) for the module; each test keeps to its own keys."""
    return provision_from_template(template_path, moto_server, api_key=local_api_key, name_prefix="claims-")


@pytest.fixture
def db(moto_server: MotoServer) -> Recording:
    return Recording(moto_server.client("dynamodb", **CLIENT_OPTIONS))


@pytest.fixture
def ledger(moto_server: MotoServer, resources: LocalResources, db: Recording) -> DynamoDBLedger:
    return make_ledger(moto_server, resources, db)


@pytest.fixture
def p(request: pytest.FixtureRequest) -> str:
    """A key prefix of this test alone (the table is the module's)."""
    return f"item#{request.node.name}/"


def refresh(key: str, version: int, ordering: int, refresh_before: int) -> Claim:
    """A change of a running full sync that began at orderingId `refresh_before`."""
    return dataclasses.replace(lt.claim(key, version, ordering), refresh_before=refresh_before)


def failed(ledger: DynamoDBLedger, key: str, version: int, ordering: int) -> None:
    """A push Coveo accepted and the validator then found rejected: the head is FAILED."""
    row = lt.pushed(ledger, key, version, ordering)
    assert ledger.mark(row, Status.FAILED, reason="REJECTED", now_ms=5_000) is True
    assert lt.head(ledger, key) == (version, ordering, Status.FAILED)


_companions = itertools.count()


def claimed(ledger: DynamoDBLedger, db: Recording, c: Claim, together: bool) -> ClaimResult | PermanentError:
    """`c`'s outcome, claimed alone (a plain UpdateItem) or in a transaction with a fresh key's claim."""
    if not together:
        return ledger.claim_many([c])[0]
    db.calls.clear()
    companion = lt.claim(f"{c.key}+{next(_companions)}", 1, 10)
    result, other = ledger.claim_many([c, companion])
    assert other is ClaimResult.CLAIMED
    assert db.transactions()[:1] == [[c.key, companion.key]]
    if result is ClaimResult.CLAIMED:  # the transaction itself took it: no claim was made alone
        assert db.names() == Counter({"TransactWriteItems": 1})
    return result


ALONE_OR_TOGETHER = pytest.mark.parametrize("together", [False, True], ids=["alone", "in-a-transaction"])


# --- how a batch's claims go -----------------------------------------------------------------------


def test_a_batch_of_two_claims_is_one_transaction_not_two_updates(
    ledger: DynamoDBLedger, db: Recording, p: str
) -> None:
    assert (
        ledger.claim_many([lt.claim(f"{p}a", 1, 10), lt.claim(f"{p}b", 2, 20)]) == [ClaimResult.CLAIMED] * 2
    )
    assert db.names() == Counter({"TransactWriteItems": 1})
    assert db.transactions() == [[f"{p}a", f"{p}b"]]
    assert lt.head(ledger, f"{p}a") == (1, 10, Status.CLAIMED)
    assert lt.head(ledger, f"{p}b") == (2, 20, Status.CLAIMED)


@pytest.mark.parametrize("code", ["InternalServerError", "ProvisionedThroughputExceededException"])
def test_a_transaction_the_table_fails_for_its_own_reason_raises_and_nothing_passes_for_claimed(
    ledger: DynamoDBLedger, db: Recording, p: str, code: str
) -> None:
    """Not a cancellation (a condition) nor a refusal (a row too large): the table's trouble. The
    batch must fail (its messages are retried), never report claims nothing wrote: their pushes
    would have no head to guard them, and their acceptances nothing to record against."""
    db.failing = code
    claims = [lt.claim(f"{p}{n}", 1, 10) for n in range(3)]
    with pytest.raises(ClientError) as raised:
        ledger.claim_many(claims)
    assert raised.value.response["Error"]["Code"] == code
    assert db.names() == Counter({"TransactWriteItems": 1})  # not retried one by one either
    assert ledger.heads([c.key for c in claims]) == {}


def test_two_claims_of_one_key_in_a_batch_go_in_different_transactions(
    ledger: DynamoDBLedger, db: Recording, p: str
) -> None:
    """DynamoDB refuses a transaction that names an item twice (ValidationException): the batch
    would fall back to one UpdateItem per claim (the same outcomes, at a request per claim). A
    repeat of a key that is not its transaction's first claim is the case that needs the chunking
    to remember every key it took."""
    a, b1, b2, c = (
        lt.claim(f"{p}a", 1, 10),
        lt.claim(f"{p}b", 1, 10),
        lt.claim(f"{p}b", 2, 20),
        lt.claim(f"{p}c", 1, 10),
    )
    results = ledger.claim_many([a, b1, b2, c])
    transactions = db.transactions()
    assert all(len(set(keys)) == len(keys) for keys in transactions), transactions
    # a, b v1 and c together; b v2 in a chunk of its own (one claim: a plain UpdateItem).
    assert transactions == [[f"{p}a", f"{p}b", f"{p}c"]]
    assert db.updated(f"{p}b") in (1, 2)  # b v2 alone; b v1 again alone if b v2 came first
    # The chunks run concurrently: b v1 is claimed, or is stale if b v2 took the head first.
    # Either way the newer version holds the head, and every other claim is made.
    assert results[0] is ClaimResult.CLAIMED and results[3] is ClaimResult.CLAIMED
    assert results[2] is ClaimResult.CLAIMED
    assert results[1] in (ClaimResult.CLAIMED, ClaimResult.STALE)
    assert lt.head(ledger, f"{p}b") == (2, 20, Status.CLAIMED)
    assert lt.head(ledger, f"{p}a") == (1, 10, Status.CLAIMED)
    assert lt.head(ledger, f"{p}c") == (1, 10, Status.CLAIMED)


# --- a full sync's refresh -------------------------------------------------------------------------
# A head's stored status is CLAIMED (accepted or not: acceptance is on the part) or FAILED. The
# ordinary guard already takes the same version from a CLAIMED head at a higher orderingId; what
# only the refresh condition takes is a FAILED one, pushed before the sync began.


@ALONE_OR_TOGETHER
def test_a_full_sync_claims_again_a_failed_push_of_the_same_version_made_before_it_began(
    ledger: DynamoDBLedger, db: Recording, p: str, together: bool
) -> None:
    failed(ledger, f"{p}a", 5, 50)
    # Outside a sync the same version, failed, is not pushed again (the validator re-pushes it).
    assert claimed(ledger, db, lt.claim(f"{p}a", 5, 60), together) is ClaimResult.STALE
    assert lt.head(ledger, f"{p}a") == (5, 50, Status.FAILED)
    # The sync began at 55, after that push: pushed again, so the sync's deletion keeps it.
    assert claimed(ledger, db, refresh(f"{p}a", 5, 60, refresh_before=55), together) is ClaimResult.CLAIMED
    assert lt.head(ledger, f"{p}a") == (5, 60, Status.CLAIMED)


@ALONE_OR_TOGETHER
def test_a_full_sync_does_not_claim_again_a_push_made_at_its_very_start(
    ledger: DynamoDBLedger, db: Recording, p: str, together: bool
) -> None:
    """ "Before the sync began" is strictly below its start: a push at the start is the sync's."""
    failed(ledger, f"{p}a", 5, 50)
    assert claimed(ledger, db, refresh(f"{p}a", 5, 60, refresh_before=50), together) is ClaimResult.STALE
    assert lt.head(ledger, f"{p}a") == (5, 50, Status.FAILED)


@ALONE_OR_TOGETHER
def test_a_full_sync_does_not_claim_again_a_push_made_after_it_began(
    ledger: DynamoDBLedger, db: Recording, p: str, together: bool
) -> None:
    failed(ledger, f"{p}a", 5, 50)
    assert claimed(ledger, db, refresh(f"{p}a", 5, 60, refresh_before=40), together) is ClaimResult.STALE
    assert lt.head(ledger, f"{p}a") == (5, 50, Status.FAILED)


@ALONE_OR_TOGETHER
def test_a_full_sync_never_claims_a_version_older_than_the_heads(
    ledger: DynamoDBLedger, db: Recording, p: str, together: bool
) -> None:
    """Even when the head was pushed before the sync began: the refresh is of the same version only
    (an older one would overwrite the newer document in Coveo)."""
    lt.pushed(ledger, f"{p}ok", 5, 50)
    failed(ledger, f"{p}ko", 5, 50)
    for key in (f"{p}ok", f"{p}ko"):
        assert claimed(ledger, db, refresh(key, 4, 60, refresh_before=55), together) is ClaimResult.STALE
    assert lt.head(ledger, f"{p}ok") == (5, 50, Status.ACCEPTED)
    assert lt.head(ledger, f"{p}ko") == (5, 50, Status.FAILED)


@ALONE_OR_TOGETHER
def test_a_full_sync_claim_never_lowers_the_heads_ordering_id(
    ledger: DynamoDBLedger, db: Recording, p: str, together: bool
) -> None:
    """The head moved above this claim's orderingId meanwhile (another invocation claimed the same
    version, not yet pushed): a conflict to retry, even though the sync began later still."""
    assert ledger.claim_many([lt.claim(f"{p}a", 5, 50)]) == [ClaimResult.CLAIMED]
    assert claimed(ledger, db, refresh(f"{p}a", 5, 40, refresh_before=100), together) is ClaimResult.CONFLICT
    assert lt.head(ledger, f"{p}a") == (5, 50, Status.CLAIMED)


# --- an acceptance recorded by another container ---------------------------------------------------


def test_an_acceptance_recorded_by_another_container_makes_its_rows_accepted(
    moto_server: MotoServer, resources: LocalResources, p: str
) -> None:
    """The claim's container remembers its slots; another one (the push retried elsewhere, or a
    new container) reads them from the heads."""
    claimer, recorder, reader = (make_ledger(moto_server, resources) for _ in range(3))
    one, two = lt.claim(f"{p}a", 1, 10), lt.claim(f"{p}b", 3, 30)
    assert claimer.claim_many([one, two]) == [ClaimResult.CLAIMED] * 2
    recorder.record_accepted([lt.accepted(one, 1_000), lt.accepted(two, 1_001)])
    for c in (one, two):
        row = reader.get(c.key)
        assert row is not None
        assert (row.status, row.version, row.ordering_id) == (Status.ACCEPTED, c.version, c.ordering_id)
    listed = [r for r in reader.rows_with_status(Status.ACCEPTED).rows if r.key.startswith(p)]
    assert [(r.key, r.version, r.ordering_id) for r in listed] == [(f"{p}a", 1, 10), (f"{p}b", 3, 30)]


def test_an_acceptance_from_another_container_of_a_replaced_claim_records_nothing(
    moto_server: MotoServer, resources: LocalResources, p: str
) -> None:
    claimer, recorder, reader = (make_ledger(moto_server, resources) for _ in range(3))
    old, other = lt.claim(f"{p}a", 1, 10), lt.claim(f"{p}b", 1, 10)
    assert claimer.claim_many([old, other]) == [ClaimResult.CLAIMED] * 2
    assert claimer.claim_many([lt.claim(f"{p}a", 2, 20)]) == [ClaimResult.CLAIMED]
    recorder.record_accepted([lt.accepted(old), lt.accepted(other)])
    assert lt.head(reader, f"{p}a") == (2, 20, Status.CLAIMED)  # the newer claim, not accepted
    assert reader.get(f"{p}a") is None
    assert lt.head(reader, f"{p}b") == (1, 10, Status.ACCEPTED)  # the rest of the batch is recorded
    listed = [r.key for r in reader.rows_with_status(Status.ACCEPTED).rows if r.key.startswith(p)]
    assert listed == [f"{p}b"]
