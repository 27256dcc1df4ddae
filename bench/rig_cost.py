"""What the rig itself costs per call: moto's CPU for the calls the latency scenario leans on.

bench/README.md says how much of the connector's time is moto's (a CPU cost DynamoDB and SQS do not
have); these figures are that cost per call, measured in the same run against the same moto
processes (bench/moto_server.py, with the simulator's patches): the process's CPU time before and
after calls made one after another (enough of them that the CPU clock's 10 ms ticks do not matter),
so nothing else runs in it meanwhile.

- `dynamodb_ms_per_claim_in_transaction`: the product's `DynamoDBLedger.claim_many` with 100 new
  keys (one TransactWriteItems of 100 conditional updates), per claim.
- `dynamodb_ms_per_lone_claim`: `DynamoDBLedger.claim` (one conditional UpdateItem).
- `sqs_ms_per_receive_of_10` / `sqs_ms_per_delete_batch_of_10`: the event source mapping's calls on
  a queue of small item events.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from . import workload
from .common import RemoteMoto, Servers, cpu_seconds

TRANSACTIONS = 10
CLAIMS_PER_TRANSACTION = 100
LONE_CLAIMS = 200
SQS_CALLS = 50


def measure(servers: Servers) -> dict[str, Any]:
    pids = servers.server_pids()
    dynamodb = _dynamodb(servers.moto_url, pids["moto"])
    sqs = _sqs(servers.sqs_url, pids["moto_sqs"])
    return {
        **dynamodb,
        **sqs,
        "calls": {"transactions": TRANSACTIONS, "lone_claims": LONE_CLAIMS, "sqs": SQS_CALLS},
    }


def _ms_per(pid: int, calls: int, run: Any) -> float:
    before = cpu_seconds(pid)
    run()
    return round((cpu_seconds(pid) - before) * 1000 / calls, 3)


def _dynamodb(moto_url: str, pid: int) -> dict[str, float]:
    from connector.adapters.dynamodb_ledger import CLIENT_OPTIONS, DynamoDBLedger
    from connector.domain.ledger import Claim, ClaimResult

    db = RemoteMoto(moto_url).client("dynamodb", **CLIENT_OPTIONS)
    table = f"rig-{uuid.uuid4().hex[:8]}"
    db.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ledger = DynamoDBLedger(db, table)

    def claims(count: int) -> list[Claim]:
        return [
            Claim(f"item#rig/{uuid.uuid4().hex}", 1, 1_000 + i, f"e-{i}", "item.upserted", "file://rig", 1)
            for i in range(count)
        ]

    ledger.claim_many(claims(CLAIMS_PER_TRANSACTION))  # the expression caches are warm, as in a run
    batches = [claims(CLAIMS_PER_TRANSACTION) for _ in range(TRANSACTIONS)]
    outcomes: list[Any] = []
    in_transaction = _ms_per(
        pid,
        TRANSACTIONS * CLAIMS_PER_TRANSACTION,
        lambda: [outcomes.extend(ledger.claim_many(batch)) for batch in batches],
    )
    lone = claims(LONE_CLAIMS)
    alone = _ms_per(pid, LONE_CLAIMS, lambda: [outcomes.append(ledger.claim(claim)) for claim in lone])
    db.delete_table(TableName=table)
    if set(outcomes) != {ClaimResult.CLAIMED}:  # a cost measured on refusals would mean nothing
        raise RuntimeError(f"the rig's claims did not all succeed: {sorted(map(str, set(outcomes)))}")
    return {"dynamodb_ms_per_claim_in_transaction": in_transaction, "dynamodb_ms_per_lone_claim": alone}


def _sqs(sqs_url: str, pid: int) -> dict[str, float]:
    sqs = RemoteMoto(sqs_url).client("sqs")
    url = sqs.create_queue(QueueName=f"rig-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    bodies = [json.dumps(workload.item_event(workload.item(i))) for i in range(SQS_CALLS * 10)]
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    pages: list[list[dict[str, Any]]] = []

    def receive() -> None:
        for _ in range(SQS_CALLS):
            pages.append(
                sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            )

    def delete() -> None:
        for page in filter(None, pages):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(page)]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)

    received = _ms_per(pid, SQS_CALLS, receive)
    deleted = _ms_per(pid, SQS_CALLS, delete)
    if sum(map(len, pages)) != len(bodies):
        raise RuntimeError(f"the rig's queue gave {sum(map(len, pages))} of {len(bodies)} messages")
    sqs.delete_queue(QueueUrl=url)
    return {"sqs_ms_per_receive_of_10": received, "sqs_ms_per_delete_batch_of_10": deleted}


def describe(rig: dict[str, Any]) -> str:
    return (
        f"DynamoDB {rig['dynamodb_ms_per_claim_in_transaction']:.2f} ms a claim in a transaction of "
        f"{CLAIMS_PER_TRANSACTION}, {rig['dynamodb_ms_per_lone_claim']:.2f} ms a lone claim; "
        f"SQS {rig['sqs_ms_per_receive_of_10']:.2f} ms a receive of 10, "
        f"{rig['sqs_ms_per_delete_batch_of_10']:.2f} ms a delete batch of 10"
    )
