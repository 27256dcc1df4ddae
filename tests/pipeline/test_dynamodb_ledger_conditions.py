"""The DynamoDB ledger on moto: its condition expressions give the ledger's transitions (the same
scenarios as the in-memory ledger, tests/ledger_transitions.py), and the requests it sends are the
ones the guard and the validator rely on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aws_simulator.cloudformation import LocalResources, provision_from_template
from aws_simulator.moto_server import MotoServer
from connector.domain.errors import LedgerRefused
from connector.domain.ledger import ClaimResult, Status
from tests import ledger_transitions as lt

from .stack import dynamodb_ledger


@pytest.fixture(scope="module")
def resources(moto_server: MotoServer, template_path: Path, local_api_key: str) -> LocalResources:
    """One ledger (as template.yaml declares it) for this module; tests keep to their keys."""
    return provision_from_template(
        template_path, moto_server, api_key=local_api_key, name_prefix="ledger-conditions-"
    )


@pytest.fixture(scope="module")
def table(resources: LocalResources) -> str:
    return resources.tables["LedgerTable"]


@pytest.mark.parametrize("scenario", lt.SCENARIOS, ids=lambda s: s.__name__)
def test_dynamodb_ledger(
    scenario: Callable[[lt.Ledger, str], None], moto_server: MotoServer, table: str, resources: LocalResources
) -> None:
    scenario(dynamodb_ledger(moto_server, resources), f"item#{scenario.__name__}/")


class Recording:
    """The boto3 client, with every call recorded; `unprocessed` keys are left out of the first
    BatchGetItem answer and reported unprocessed, as DynamoDB does under load."""

    def __init__(self, client: Any, unprocessed: int = 0) -> None:
        self._client = client
        self.exceptions = client.exceptions
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._unprocessed = unprocessed

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            if name == "batch_get_item" and self._unprocessed:
                return self._partial(kwargs["RequestItems"])
            return method(**kwargs)

        return call

    def _partial(self, request: dict[str, Any]) -> dict[str, Any]:
        ((table, ask),) = request.items()
        keep, later = ask["Keys"][: -self._unprocessed], ask["Keys"][-self._unprocessed :]
        self._unprocessed = 0
        response = self._client.batch_get_item(RequestItems={table: {**ask, "Keys": keep}})
        response["UnprocessedKeys"] = {table: {**ask, "Keys": later}}
        return dict(response)

    def requests(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs in self.calls if called == name]


def test_heads_of_many_keys_are_read_consistently_100_at_most_per_request_each_key_once(
    moto_server: MotoServer, table: str, resources: LocalResources
) -> None:
    ledger = dynamodb_ledger(moto_server, resources)
    keys = [f"item#many/{n}" for n in range(250)]
    ledger.claim_many([lt.claim(key, 1, 10) for key in keys])
    client = Recording(moto_server.client("dynamodb"))
    # For changes of a newer version: whether these claims were accepted does not matter, so only
    # the heads are read (duplicates asked once).
    newer = dict.fromkeys(keys, 2)
    heads = dynamodb_ledger(moto_server, resources, client).heads(keys + keys[:5], newer)
    assert sorted(heads) == sorted(keys)
    asked = [
        k["pk"]["S"] for r in client.requests("batch_get_item") for k in r["RequestItems"][table]["Keys"]
    ]
    assert sorted(asked) == sorted(keys)
    requests = [r["RequestItems"][table] for r in client.requests("batch_get_item")]
    # The chunks are read side by side (the readers' pool): recorded in whatever order they ran.
    assert sorted(len(r["Keys"]) for r in requests) == [50, 100, 100]
    assert all(r["ConsistentRead"] is True for r in requests)


def test_keys_dynamodb_leaves_unprocessed_are_asked_again(
    moto_server: MotoServer, table: str, resources: LocalResources
) -> None:
    keys = [f"item#unprocessed/{n}" for n in range(5)]
    dynamodb_ledger(moto_server, resources).claim_many([lt.claim(k, 1, 10) for k in keys])
    client = Recording(moto_server.client("dynamodb"), unprocessed=2)
    assert sorted(dynamodb_ledger(moto_server, resources, client).heads(keys, dict.fromkeys(keys, 2))) == keys
    assert len(client.requests("batch_get_item")) == 2


def test_a_row_is_read_consistently(moto_server: MotoServer, table: str, resources: LocalResources) -> None:
    client = Recording(moto_server.client("dynamodb"))
    ledger = dynamodb_ledger(moto_server, resources, client)
    lt.pushed(ledger, "item#consistent", 1, 10)
    client.calls.clear()
    assert ledger.get("item#consistent") is not None
    reads = [r["RequestItems"][table] for r in client.requests("batch_get_item")]
    # The head, then its acceptance part: both strongly consistent.
    assert [([k["pk"]["S"][:4] for k in r["Keys"]], r["ConsistentRead"]) for r in reads] == [
        (["item"], True),
        (["acc#"], True),
    ]


def test_whether_a_claim_was_accepted_is_read_only_for_a_change_of_its_version(
    moto_server: MotoServer, table: str, resources: LocalResources
) -> None:
    ledger = dynamodb_ledger(moto_server, resources)
    lt.pushed(ledger, "item#resolve/a", 3, 30)
    client = Recording(moto_server.client("dynamodb"))
    reader = dynamodb_ledger(moto_server, resources, client)
    assert reader.heads(["item#resolve/a"], {"item#resolve/a": 4})["item#resolve/a"].status is Status.CLAIMED
    assert len(client.requests("batch_get_item")) == 1  # a newer version: the head alone decides
    assert reader.heads(["item#resolve/a"], {"item#resolve/a": 3})["item#resolve/a"].status is Status.ACCEPTED
    assert len(client.requests("batch_get_item")) == 3  # the same version: its part is read too


def test_a_row_dynamodb_will_not_store_is_that_change_s_refusal_not_the_batch_s(
    moto_server: MotoServer, table: str, resources: LocalResources
) -> None:
    ledger = dynamodb_ledger(moto_server, resources)
    huge = "item#" + "x" * 3_000  # past DynamoDB's 2,048-byte partition key
    results = ledger.claim_many([lt.claim("item#beside-huge", 1, 10), lt.claim(huge, 1, 10)])
    assert results[0] is ClaimResult.CLAIMED
    refusal = results[1]
    assert isinstance(refusal, LedgerRefused)
    assert refusal.reason.startswith("the ledger cannot record 'file://item#xxx")


def test_any_other_dynamodb_error_is_the_ledger_s_and_raises(
    moto_server: MotoServer, table: str, resources: LocalResources
) -> None:
    client = moto_server.client("dynamodb")

    class Throttled(Recording):
        def __getattr__(self, name: str) -> Any:
            if name == "update_item":

                def refuse(**kwargs: Any) -> Any:
                    error = {
                        "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
                    }
                    raise ClientError(error, "UpdateItem")

                return refuse
            return super().__getattr__(name)

    with pytest.raises(ClientError):
        dynamodb_ledger(moto_server, resources, Throttled(client)).claim_many(
            [lt.claim("item#throttled", 1, 10)]
        )


def test_reasons_are_kept_to_their_first_2000_characters(
    moto_server: MotoServer, table: str, resources: LocalResources
) -> None:
    ledger = dynamodb_ledger(moto_server, resources)
    long = "".join(f"{n:04d}" for n in range(1_000))  # 4,000 characters, each position distinct
    marked = lt.pushed(ledger, "item#long/mark", 1, 10)
    ledger.mark(marked, Status.FAILED, reason=long, now_ms=5_000)
    assert ledger.get("item#long/mark").failure_reason == long[:2_000]  # type: ignore[union-attr]

    reopened = lt.pushed(ledger, "item#long/reopen", 1, 10)
    ledger.reopen(reopened, reason=long, now_ms=5_000)
    item = moto_server.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "item#long/reopen"}})
    assert item["Item"]["failureReason"]["S"] == long[:2_000]

    settled = lt.pushed(ledger, "item#long/settle", 1, 10)
    ledger.reopen(settled, reason="retriable", now_ms=5_000)
    ledger.settle(settled, Status.FAILED, reason=long, now_ms=6_000)
    assert ledger.get("item#long/settle").failure_reason == long[:2_000]  # type: ignore[union-attr]
