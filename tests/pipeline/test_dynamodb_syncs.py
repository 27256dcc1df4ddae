"""Full syncs' records on DynamoDB and their members on S3 (connector.adapters.dynamodb_syncs), on
moto, built as the functions build it (`Runtime.syncs()` from template.yaml's environment):

- the `SyncLedger` scenarios the in-memory twin passes too (tests/sync_ledger_scenarios.py);
- what the condition expressions promise when Lambda containers race: one record per syncId, one
  winner per pointer move, one end per sync, every member of batches written at once;
- what a sync's members cost and that a large sync is read back whole (S3 lists 1,000 keys a page);
- what DynamoDB's eventually consistent index may show, and the whole-ledger read beside them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from aws_simulator.stack import CoveoTarget, LocalStack
from connector.adapters.dynamodb_syncs import RUNNING, DynamoDBSyncs
from connector.domain.events import Kind, sync_key
from connector.domain.ledger import Head, Row
from connector.domain.sync import Member, MemberOutcome, SyncState
from connector.entry.runtime import Runtime
from tests import ledger_transitions as lt
from tests import sync_ledger_scenarios as scenarios

from .stack import dynamodb_ledger

T = TypeVar("T")
# Never called: the sync ledger needs no Coveo, the runtime only wants a target to build.
NO_COVEO = CoveoTarget("http://127.0.0.1:9", "org", "source", "provider")


def runtime(moto_server: MotoServer, resources: LocalResources, template_path: Path) -> Runtime:
    """A function's runtime on these resources: what one Lambda container builds."""
    env = LocalStack(moto_server, resources, NO_COVEO, template_path).env()
    return Runtime.from_env(env, client=moto_server.client)


@pytest.fixture
def containers(
    moto_server: MotoServer, local_resources: LocalResources, template_path: Path
) -> Callable[[], Runtime]:
    """Makes runtimes of this test's resources, each with its own clients (one per container)."""
    return lambda: runtime(moto_server, local_resources, template_path)


@pytest.fixture
def syncs(containers: Callable[[], Runtime]) -> DynamoDBSyncs:
    return containers().syncs()


class Calls:
    """The API calls boto3 clients send (paginators' included), by operation name."""

    def __init__(self, *clients: Any) -> None:
        self.made: Counter[str] = Counter()
        self._lock = threading.Lock()
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.made[model.name] += 1

    def take(self) -> dict[str, int]:
        with self._lock:
            made, self.made = dict(self.made), Counter()
        return made


def race(*calls: Callable[[], T]) -> list[T]:
    """Run the calls in threads released together; their answers in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# --- the port's scenarios -------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", scenarios.SCENARIOS, ids=lambda s: s.__name__)
def test_dynamodb_syncs(scenario: scenarios.Scenario, syncs: DynamoDBSyncs) -> None:
    scenario(syncs)


def test_the_runtime_builds_it_on_the_ledgers_table_and_bucket_with_the_ledger_ttl(
    containers: Callable[[], Runtime], local_resources: LocalResources
) -> None:
    rt = containers()
    syncs = rt.syncs()
    syncs.open("s-ttl", Kind.ITEM, 1_700_000_000_123)
    item = rt.dynamodb.get_item(
        TableName=local_resources.tables["LedgerTable"], Key={"pk": {"S": sync_key("s-ttl")}}
    )["Item"]
    assert int(item["expiresAt"]["N"]) == 1_700_000_000 + rt.settings.ledger_ttl_days * 86_400
    syncs.record_members("s-ttl", [scenarios.pushed("e1")], now_ms=1_700_000_001_000)
    keys = rt.s3.list_objects_v2(Bucket=local_resources.buckets["LedgerBucket"], Prefix="syncs/s-ttl/")
    assert [entry["Key"].endswith(".json.gz") for entry in keys["Contents"]] == [True]


# --- racing containers ----------------------------------------------------------------------------

ROUNDS = 40


@pytest.fixture
def atomic_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies the writes to one item one at a time: a condition, an `if_not_exists` or
    an ADD sees the item as the previous write left it. moto does not: it reads the item, evaluates,
    then writes, in whichever request thread, so two writes racing both see the item absent (on
    this server, about 1 racing `open` in 5 answered two records, and 1 racing `finish` in 200 two
    winners, whatever the adapter does). The moto server runs in this process: its write
    operations are serialized for the test, which gives moto the guarantee DynamoDB has, so what
    these tests check is the adapter's expressions, not moto's threads."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item"):
        write = getattr(DynamoDBBackend, name)

        def one_at_a_time(self: Any, *args: Any, _write: Any = write, **kwargs: Any) -> Any:
            with lock:
                return _write(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, one_at_a_time)


def test_containers_racing_to_open_a_sync_get_one_record(
    containers: Callable[[], Runtime], atomic_items: None
) -> None:
    one, other = containers().syncs(), containers().syncs()
    for n in range(ROUNDS):
        sync_id = f"s-open-{n}"
        first, second = race(
            partial(one.open, sync_id, Kind.ITEM, 1_000 + n),
            partial(other.open, sync_id, Kind.IDENTITY, 2_000 + n),
        )
        assert first == second == one.get([sync_id])[sync_id]
        assert (first.started_ms, first.scope) in {(1_000 + n, Kind.ITEM), (2_000 + n, Kind.IDENTITY)}


def test_containers_racing_to_replace_a_scopes_sync_have_one_winner(
    containers: Callable[[], Runtime], atomic_items: None
) -> None:
    one, other = containers().syncs(), containers().syncs()
    assert one.make_current(Kind.ITEM, "s-cur-0", replacing=None)
    for n in range(ROUNDS):
        current = f"s-cur-{n}"
        won = race(
            partial(one.make_current, Kind.ITEM, f"s-one-{n}", replacing=current),
            partial(other.make_current, Kind.ITEM, f"s-other-{n}", replacing=current),
        )
        assert sorted(won) == [False, True]
        winner = f"s-one-{n}" if won[0] else f"s-other-{n}"
        assert one.current(Kind.ITEM) == winner
        assert one.make_current(Kind.ITEM, f"s-cur-{n + 1}", replacing=winner)
    # The first pointer of a scope, raced for: one winner too.
    won = race(
        partial(one.make_current, Kind.IDENTITY, "s-i1", replacing=None),
        partial(other.make_current, Kind.IDENTITY, "s-i2", replacing=None),
    )
    assert sorted(won) == [False, True]
    assert one.current(Kind.IDENTITY) == ("s-i1" if won[0] else "s-i2")


def test_containers_racing_to_end_a_sync_end_it_once(
    containers: Callable[[], Runtime], atomic_items: None
) -> None:
    one, other = containers().syncs(), containers().syncs()
    for n in range(ROUNDS):
        sync_id = f"s-end-{n}"
        one.open(sync_id, Kind.ITEM, 1_000)
        ended = race(
            partial(
                one.finish, sync_id, SyncState.COMPLETED, reason=None, now_ms=5_000, deleted=2, threshold=900
            ),
            partial(other.finish, sync_id, SyncState.FAILED, reason="superseded", now_ms=6_000),
        )
        assert sorted(ended) == [False, True]
        after = one.get([sync_id])[sync_id]
        if ended[0]:
            assert (after.state, after.reason, after.deleted, after.finished_ms) == (
                SyncState.COMPLETED,
                None,
                2,
                5_000,
            )
        else:
            assert (after.state, after.reason, after.deleted, after.finished_ms) == (
                SyncState.FAILED,
                "superseded",
                None,
                6_000,
            )


def members(sync: str, batch: int, size: int) -> list[Member]:
    return [
        Member(
            f"{sync}-e{batch}-{i}", f"item#file://{sync}/{batch}/{i}", "item.upserted", MemberOutcome.PUSHED
        )
        for i in range(size)
    ]


def test_batches_recorded_at_once_by_many_containers_are_all_read_back_across_list_pages(
    containers: Callable[[], Runtime], atomic_items: None
) -> None:
    """1,050 batches from 8 containers, 2 members each: every member comes back, the settled
    counter adds every batch (ADD is atomic), and the objects take two ListObjectsV2 pages."""
    runtimes = [containers() for _ in range(8)]
    writers = [rt.syncs() for rt in runtimes]
    writers[0].open("s-many", Kind.ITEM, 1_000)
    batches = [members("s-many", b, 2) for b in range(1_050)]

    def write(n: int) -> None:
        writers[n % len(writers)].record_members("s-many", batches[n], now_ms=2_000 + n)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(len(batches))))
    reader = containers()
    calls = Calls(reader.s3)
    read = reader.syncs().members("s-many")
    assert Counter(read) == Counter(m for batch in batches for m in batch)
    made = calls.take()
    assert (made["ListObjectsV2"], made["GetObject"]) == (2, 1_050)
    assert reader.syncs().get(["s-many"])["s-many"].settled == 2_100


# --- scale and cost -------------------------------------------------------------------------------


def test_a_sync_of_20000_changes_costs_one_put_and_one_write_a_batch_and_reads_back_whole(
    containers: Callable[[], Runtime], local_resources: LocalResources
) -> None:
    """Measured on moto (boto3's own call events, paginators included). Per batch, `record_members`
    sends one S3 PutObject (the batch's members as gzipped JSON: about 3 KB for these 500, about
    18 KB for 500 with random UUID event ids and URL keys) and one DynamoDB UpdateItem (ADD to the
    record's settled counter, set its progress time: 1 write unit, the record being well under
    1 KB); nothing per member. Reading the sync back (the validator, each run while the sync runs)
    is one ListObjectsV2 per 1,000 batches and one GetObject per batch. So 20,000 changes in 40
    batches of 500 (the template's batch size) cost 40 PUTs and 40 write units to record, and 1 LIST
    and 40 GETs a validator run to read. Every batch writes the same record: at 500 changes a batch
    that item sees far fewer writes than DynamoDB's 1,000 a second per item.
    Not measured here, read from pipeline.py: the push function also calls `open` (one UpdateItem,
    a write even when the record exists) twice a batch of a sync, once before the stale guard and
    once before it records the members, so a batch of one sync costs 3 write units and 1 PUT."""
    rt = containers()
    syncs = rt.syncs()
    syncs.open("s-big", Kind.ITEM, 1_000)
    calls = Calls(rt.dynamodb, rt.s3)
    recorded: list[Member] = []
    for batch in range(40):
        outcome = [m if i % 50 else _dead(m) for i, m in enumerate(members("s-big", batch, 500))]
        syncs.record_members("s-big", outcome, now_ms=2_000 + batch)
        recorded += outcome
        assert calls.take() == {"PutObject": 1, "UpdateItem": 1}
    read = syncs.members("s-big")
    assert calls.take() == {"ListObjectsV2": 1, "GetObject": 40}
    objects = rt.s3.list_objects_v2(Bucket=local_resources.buckets["LedgerBucket"], Prefix="syncs/s-big/")
    assert len(objects["Contents"]) == 40 and max(o["Size"] for o in objects["Contents"]) < 16_000
    assert len(read) == 20_000 and Counter(read) == Counter(recorded)
    record = syncs.get(["s-big"])["s-big"]
    assert (record.settled, record.progress_ms) == (20_000 - 40 * 10, 2_039)  # dead letters not counted


def _dead(member: Member) -> Member:
    return Member(member.event_id, member.key, member.operation, MemberOutcome.DEAD_LETTERED, "refused")


def test_many_syncs_are_read_100_records_a_request(containers: Callable[[], Runtime]) -> None:
    rt = containers()
    syncs = rt.syncs()
    for n in range(130):
        syncs.open(f"s-{n:03d}", Kind.ITEM, 1_000 + n)
    for n in range(0, 130, 2):
        syncs.finish(f"s-{n:03d}", SyncState.FAILED, reason="deadline", now_ms=9_000)
    calls = Calls(rt.dynamodb)
    assert len(syncs.get([f"s-{n:03d}" for n in range(130)] + ["s-unknown"])) == 130
    assert calls.take() == {"BatchGetItem": 2}
    assert sorted(r.sync_id for r in syncs.running()) == [f"s-{n:03d}" for n in range(1, 130, 2)]
    assert [r.sync_id for r in syncs.recent()] == [f"s-{n:03d}" for n in range(129, 29, -1)]


# --- what the index may show ----------------------------------------------------------------------


class FrozenIndex:
    """The DynamoDB client, with the `pending` index's answers for one queue value frozen from
    `freeze(queue)` on: a list read before another container ended a sync. DynamoDB's global
    secondary indexes are eventually consistent, so a sync just ended may still be listed under
    `sync#running` (moto updates its indexes at once); and `recent()` reads the running, then the
    ended, so a sync ended between the two reads is in both even with no lag at all."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.exceptions = client.exceptions
        self._frozen: dict[str, Any] = {}
        self._queue: str | None = None

    def freeze(self, queue: str) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        if kwargs["ExpressionAttributeValues"][":q"]["S"] != self._queue:
            return self._client.query(**kwargs)
        key = repr(sorted(kwargs.items()))
        if key not in self._frozen:
            self._frozen[key] = self._client.query(**kwargs)
        return self._frozen[key]


def test_a_sync_ended_after_the_running_ones_were_listed_is_not_running_nor_listed_twice(
    containers: Callable[[], Runtime], local_resources: LocalResources
) -> None:
    """The index still lists a sync as running whose record (read consistently) says it ended: it
    is not running. The validator would otherwise judge it again, and could send the deletion of
    a sync a later sync.started superseded; `coveo-push syncs` would show it twice."""
    rt = containers()
    index = FrozenIndex(rt.dynamodb)
    syncs = DynamoDBSyncs(
        index, local_resources.tables["LedgerTable"], rt.s3, local_resources.buckets["LedgerBucket"]
    )
    for n in (1, 2, 3):
        syncs.open(f"s-{n}", Kind.ITEM, n * 1_000)
    syncs.finish("s-3", SyncState.COMPLETED, reason=None, now_ms=5_000, deleted=0, threshold=1)
    index.freeze(RUNNING)
    assert sorted(r.sync_id for r in syncs.running()) == ["s-1", "s-2"]
    rt.syncs().finish("s-2", SyncState.FAILED, reason="superseded", now_ms=6_000)  # another container
    assert [r.sync_id for r in syncs.running()] == ["s-1"]
    assert [(r.sync_id, r.state) for r in syncs.recent()] == [
        ("s-3", SyncState.COMPLETED),
        ("s-2", SyncState.FAILED),
        ("s-1", SyncState.RUNNING),
    ]


# --- the ledger beside them -----------------------------------------------------------------------


def test_the_whole_ledger_read_skips_sync_records_and_scope_pointers(
    moto_server: MotoServer, local_resources: LocalResources, syncs: DynamoDBSyncs
) -> None:
    ledger = dynamodb_ledger(moto_server, local_resources)
    lt.pushed(ledger, "item#file://kept", 1, 10)
    ledger.claim_many([lt.claim("identity#alice", 2, 20)])
    for scope, sync_id in ((Kind.ITEM, "s-items"), (Kind.IDENTITY, "s-identities")):
        syncs.open(sync_id, scope, 1_000)
        syncs.announce(sync_id, event_ms=900, now_ms=1_000)
        assert syncs.make_current(scope, sync_id, replacing=None)
        syncs.expect(sync_id, 1, allow_mass_delete=False, now_ms=2_000)
        syncs.record_members(sync_id, [scenarios.pushed("e1")], now_ms=2_000)
    syncs.finish("s-items", SyncState.COMPLETED, reason=None, now_ms=3_000, deleted=0, threshold=900)
    states = list(ledger.all_rows())
    assert sorted(state.key for state in states) == ["identity#alice", "item#file://kept"]
    kinds = {state.key: type(state) for state in states}
    assert kinds == {"identity#alice": Head, "item#file://kept": Row}
