"""Claims in transactions, on moto: a batch's claims go 100 to a TransactWriteItems; a transaction
DynamoDB cancels or refuses leaves nothing written, and each of its claims then gets, alone, exactly
the outcome it would have had alone; a write that meets a transaction in flight is tried again."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from connector.adapters import dynamodb_ledger
from connector.adapters.dynamodb_ledger import DynamoDBLedger, _transaction_chunks
from connector.domain.errors import LedgerRefused
from connector.domain.ledger import Claim, ClaimResult, Status

from .stack import dynamodb_ledger as make_ledger


def claim(key: str, version: int = 1, ordering: int = 1_000) -> Claim:
    return Claim(key, version, ordering, f"e-{key}-{version}", "item.upserted", key, 1, 2_000_000_000)


class Recording:
    """A DynamoDB client that keeps the writes it is asked for, and can make some fail first:
    `conflicts`, the next UpdateItems that meet a transaction in flight; `failing`, an error code
    every TransactWriteItems fails with before it reaches the table."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.conflicts = 0
        self.failing: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **request: Any) -> Any:
        self.calls.append(("UpdateItem", request))
        if self.conflicts:
            self.conflicts -= 1
            raise self._client.exceptions.TransactionConflictException(
                {"Error": {"Code": "TransactionConflictException", "Message": "in a transaction"}},
                "UpdateItem",
            )
        return self._client.update_item(**request)

    def transact_write_items(self, **request: Any) -> Any:
        self.calls.append(("TransactWriteItems", request))
        if self.failing:
            raise ClientError(
                {"Error": {"Code": self.failing, "Message": "the table's"}}, "TransactWriteItems"
            )
        return self._client.transact_write_items(**request)

    def names(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)

    def transactions(self) -> list[list[str]]:
        """The keys each TransactWriteItems named, in order."""
        return [
            [action["Update"]["Key"]["pk"]["S"] for action in request["TransactItems"]]
            for name, request in self.calls
            if name == "TransactWriteItems"
        ]

    def updated(self, key: str) -> int:
        return sum(1 for name, r in self.calls if name == "UpdateItem" and r["Key"]["pk"]["S"] == key)


@pytest.fixture
def db(moto_server: MotoServer) -> Recording:
    return Recording(moto_server.client("dynamodb"))


@pytest.fixture
def ledger(moto_server: MotoServer, local_resources: LocalResources, db: Recording) -> DynamoDBLedger:
    return make_ledger(moto_server, local_resources, db)


def heads(ledger: DynamoDBLedger, keys: list[str]) -> dict[str, tuple[int, int, Status]]:
    return {k: (h.version, h.ordering_id, h.status) for k, h in ledger.heads(keys).items()}


def test_a_batch_claims_100_keys_per_transaction_and_each_head_holds_its_claim(
    ledger: DynamoDBLedger, db: Recording
) -> None:
    claims = [claim(f"item#t{n}", version=n + 1, ordering=5_000 + n) for n in range(250)]
    assert ledger.claim_many(claims) == [ClaimResult.CLAIMED] * 250
    transactions = [request for name, request in db.calls if name == "TransactWriteItems"]
    assert sorted(len(t["TransactItems"]) for t in transactions) == [50, 100, 100]
    assert db.names()["UpdateItem"] == 0
    # Each transaction has its own idempotency token, within DynamoDB's 36 characters.
    tokens = [t["ClientRequestToken"] for t in transactions]
    assert len(set(tokens)) == 3 and all(0 < len(t) <= 36 for t in tokens)
    assert heads(ledger, [c.key for c in claims]) == {
        c.key: (c.version, c.ordering_id, Status.CLAIMED) for c in claims
    }


def test_a_lone_claim_is_a_plain_conditional_update(ledger: DynamoDBLedger, db: Recording) -> None:
    assert ledger.claim_many([claim("item#alone")]) == [ClaimResult.CLAIMED]
    assert db.names() == Counter({"UpdateItem": 1})


def test_with_one_claim_per_transaction_each_claim_is_its_own_conditional_write(
    moto_server: MotoServer, local_resources: LocalResources, db: Recording
) -> None:
    """ClaimsPerTransaction=1: 1 write unit a claim instead of 2, and the CPU of a call each."""
    ledger = make_ledger(moto_server, local_resources, db)
    ledger = DynamoDBLedger(
        db, local_resources.tables["LedgerTable"], entries=ledger._entries, claims_per_transaction=1
    )
    claims = [claim(f"item#one{n}") for n in range(5)]
    assert ledger.claim_many(claims) == [ClaimResult.CLAIMED] * 5
    assert db.names() == Counter({"UpdateItem": 5})


@pytest.mark.parametrize("size", [0, 101, -1])
def test_claims_per_transaction_is_1_to_100(db: Recording, size: int) -> None:
    with pytest.raises(ValueError, match="claims_per_transaction must be 1 to 100"):
        DynamoDBLedger(db, "ledger", claims_per_transaction=size)


def test_the_setting_reaches_the_ledger_from_the_functions_environment() -> None:
    from connector.entry.settings import ConfigurationError, ConnectorSettings

    env = {
        "COVEO_ORGANIZATION_ID": "org",
        "COVEO_SOURCE_ID": "org-source",
        "COVEO_PROVIDER_ID": "provider",
        "LEDGER_TABLE": "t",
        "LEDGER_BUCKET": "b",
        "COVEO_API_KEY_SECRET": "secret",
        "ITEM_DEAD_LETTER_QUEUE_URL": "http://q/i",
        "IDENTITY_DEAD_LETTER_QUEUE_URL": "http://q/d",
    }
    assert ConnectorSettings.from_env(env).claims_per_transaction == 100
    assert (
        ConnectorSettings.from_env({**env, "LEDGER_CLAIMS_PER_TRANSACTION": "1"}).claims_per_transaction == 1
    )
    for bad in ("0", "101", "1.5", "many"):
        with pytest.raises(ConfigurationError, match="LEDGER_CLAIMS_PER_TRANSACTION"):
            ConnectorSettings.from_env({**env, "LEDGER_CLAIMS_PER_TRANSACTION": bad})


def test_a_stale_claim_cancels_its_transaction_and_every_other_claim_lands_alone(
    ledger: DynamoDBLedger, db: Recording
) -> None:
    # A newer version of one key was claimed after the batch read its heads.
    assert ledger.claim(claim("item#s3", version=9, ordering=9_000)) is ClaimResult.CLAIMED
    db.calls.clear()
    claims = [claim(f"item#s{n}", version=2, ordering=5_000) for n in range(6)]
    results = ledger.claim_many(claims)
    assert results == [ClaimResult.CLAIMED] * 3 + [ClaimResult.STALE] + [ClaimResult.CLAIMED] * 2
    assert db.names() == Counter({"TransactWriteItems": 1, "UpdateItem": 6})
    # The cancelled transaction wrote nothing of its own: the newer head is as it was.
    assert heads(ledger, ["item#s3"]) == {"item#s3": (9, 9_000, Status.CLAIMED)}
    assert all(heads(ledger, [f"item#s{n}"])[f"item#s{n}"][:2] == (2, 5_000) for n in (0, 1, 2, 4, 5))


def test_the_same_version_claimed_higher_meanwhile_is_a_conflict_inside_a_transaction(
    ledger: DynamoDBLedger, db: Recording
) -> None:
    """Another invocation claimed the same version with a higher orderingId: not stale (its push
    may still fail), a conflict the message retries."""
    assert ledger.claim(claim("item#c1", version=4, ordering=9_000)) is ClaimResult.CLAIMED
    results = ledger.claim_many([claim("item#c0"), claim("item#c1", version=4, ordering=8_000)])
    assert results == [ClaimResult.CLAIMED, ClaimResult.CONFLICT]
    assert heads(ledger, ["item#c1"]) == {"item#c1": (4, 9_000, Status.CLAIMED)}


def test_a_claim_the_table_will_not_store_is_refused_alone(ledger: DynamoDBLedger, db: Recording) -> None:
    too_long = "item#" + "x" * 2_100  # a partition key is at most 2,048 bytes
    results = ledger.claim_many([claim("item#ok1"), claim(too_long), claim("item#ok2")])
    assert results[0] is ClaimResult.CLAIMED and results[2] is ClaimResult.CLAIMED
    assert isinstance(results[1], LedgerRefused)
    assert "cannot record" in results[1].reason
    assert db.names()["TransactWriteItems"] == 1
    assert set(heads(ledger, ["item#ok1", "item#ok2"])) == {"item#ok1", "item#ok2"}


def test_a_claim_that_meets_a_transaction_in_flight_is_tried_again(
    ledger: DynamoDBLedger, db: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb_ledger, "CONFLICT_BACKOFF_S", 0.0)
    # Tried 4 times in all (docs/decisions.md): a transaction holds its items for milliseconds.
    db.conflicts = 3
    assert ledger.claim(claim("item#busy")) is ClaimResult.CLAIMED
    assert db.names()["UpdateItem"] == 4


def test_a_claim_whose_key_stays_in_a_transaction_is_a_conflict_to_retry_later(
    ledger: DynamoDBLedger, db: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb_ledger, "CONFLICT_BACKOFF_S", 0.0)
    db.conflicts = 4
    assert ledger.claim(claim("item#held")) is ClaimResult.CONFLICT
    assert heads(ledger, ["item#held"]) == {}


def test_the_validators_write_on_a_key_held_by_a_transaction_raises_after_its_attempts(
    ledger: DynamoDBLedger, db: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not swallowed as "the head moved on": the validator's run stops and the next one redoes it."""
    monkeypatch.setattr(dynamodb_ledger, "CONFLICT_BACKOFF_S", 0.0)
    db.conflicts = 4
    with pytest.raises(db._client.exceptions.TransactionConflictException):
        ledger._conditional_update(
            "item#x", "SET #status = :s", "attribute_exists(pk)", {":s": {"S": "FAILED"}}
        )


@pytest.mark.parametrize(
    ("keys", "chunks"),
    [
        ([], []),
        (["a"], [[0]]),
        (["a", "b", "a", "c", "a"], [[0, 1, 3], [2], [4]]),
        ([f"k{n}" for n in range(201)], [list(range(100)), list(range(100, 200)), [200]]),
    ],
)
def test_transactions_hold_at_most_100_distinct_keys_in_order(
    keys: list[str], chunks: list[list[int]]
) -> None:
    assert _transaction_chunks([claim(k) for k in keys]) == chunks
