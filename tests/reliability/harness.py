"""What the reliability tier and the soak share: workloads whose newest versions are known, fault
rules at the issue's rates, a stack that records what became of every message, and the accounting
that puts each sent event in exactly one class.

Nothing here asserts: `Accounting` lists what is wrong; the tests and the soak decide.
"""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from aws_simulator.poller import DrainResult, SqsEventSourcePoller
from aws_simulator.stack import DEAD_LETTER_QUEUES, FUNCTIONS, IDENTITY_QUEUE, ITEM_QUEUE, LocalStack
from connector.adapters.secrets import api_key_from_secret
from connector.domain.events import event_id_of
from connector.domain.ledger import Head, Row
from connector.domain.pipeline import BatchReport, Disposition, Message, Pipeline
from connector.entry.handler import make_lambda_handler
from connector.entry.runtime import Runtime
from coveo_push_api import CoveoClient
from tests.pipeline.stack import ANONYMOUS

EMAIL_PROVIDER = "Email Security Provider"

# --- workloads ------------------------------------------------------------------------------------


def key_of(event: Mapping[str, Any], provider: str) -> str:
    """The ledger key the connector gives an event (see connector.domain.events: item#, identity#, alias#)."""
    data = event["data"]
    if event["type"].startswith("item."):
        return f"item#{data['documentId']}"
    family = "alias" if event["type"] == "identity.aliased" else "identity"
    return f"{family}#{provider}#{data['identity']['type']}#{data['identity']['name']}"


def cloud_event(event_id: str, event_type: str, data: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": "reliability", "type": event_type, "data": data}


def item_event(
    document_id: str, version: int, *, team: str, denied: str, provider: str, delete: bool = False
) -> dict[str, Any]:
    """One item version. Its `rev` metadata is read back from the index to see which version won."""
    event_id = f"{document_id}@{version}"
    if delete:
        return cloud_event(event_id, "item.deleted", {"documentId": document_id, "version": version})
    permissions = [
        {
            "allowedPermissions": [{"identity": team, "identityType": "Group", "securityProvider": provider}],
            "deniedPermissions": [{"identity": denied, "identityType": "User", "securityProvider": provider}],
        }
    ]
    document = {"data": f"{document_id} version {version}", "rev": version, "permissions": permissions}
    return cloud_event(
        event_id, "item.upserted", {"documentId": document_id, "version": version, "document": document}
    )


def group_event(name: str, version: int, members: Sequence[str], *, delete: bool = False) -> dict[str, Any]:
    """One group version; `rev` in its additionalInfo is read back from the security cache."""
    event_id = f"group:{name}@{version}"
    identity = {"name": name, "type": "GROUP"}
    if delete:
        return cloud_event(event_id, "identity.deleted", {"identity": identity, "version": version})
    data = {
        "identity": {**identity, "additionalInfo": {"rev": str(version)}},
        "members": [{"name": member, "type": "USER"} for member in members],
        "version": version,
    }
    return cloud_event(event_id, "identity.upserted", data)


def alias_event(user: str, version: int) -> dict[str, Any]:
    data = {
        "identity": {"name": user, "type": "USER"},
        "mappings": [{"name": alias_of(user), "type": "USER", "provider": EMAIL_PROVIDER}],
        "version": version,
    }
    return cloud_event(f"alias:{user}@{version}", "identity.aliased", data)


def alias_of(user: str) -> str:
    return f"{user}@example.com"


@dataclass
class Workload:
    """Events with explicit versions, each event id once."""

    provider: str
    identities: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.identities + self.items

    def newest(self) -> dict[str, dict[str, Any]]:
        """Ledger key → the event with the highest version."""
        newest: dict[str, dict[str, Any]] = {}
        for event in self.events:
            key = key_of(event, self.provider)
            if key not in newest or event["data"]["version"] > newest[key]["data"]["version"]:
                newest[key] = event
        return newest


def make_workload(
    items: int,
    identities: int,
    *,
    seed: int,
    provider: str,
    group_versions: int = 4,
    teams: int | None = None,
    prefix: str = "",
) -> Workload:
    """`items` item events (1-4 versions per document, 10 % ending deleted) and `identities`
    identity events: one alias per user, then groups with up to `group_versions` versions each.

    Items grant one `team-*` group and deny one user, so who may see them depends on the newest
    membership of that group. Teams are never deleted (their items must stay resolvable); `tmp-*`
    groups may end deleted. With one version per group the rest of the budget makes more groups.
    Identities come out as aliases, `tmp-*` groups, then teams.
    """
    rng = random.Random(seed)
    users = [f"{prefix}user-{i:03d}" for i in range(max(4, identities // 6))]
    team_names = [f"{prefix}team-{i:03d}" for i in range(teams or max(2, identities // 8))]
    spare = identities - len(users) - len(team_names)
    # Enough tmp groups that the versions add up to exactly `identities`.
    needed = -(-(identities - len(users)) // group_versions) - len(team_names)
    temps = [f"{prefix}tmp-{i:03d}" for i in range(max(1, identities // 16, needed))]
    groups = temps + team_names
    if spare < len(temps) or not temps:
        raise ValueError(f"{identities} identity events are too few for this workload shape")
    workload = Workload(provider)
    workload.identities += [alias_event(user, 1) for user in users]
    for group, count in _spread(groups, identities - len(users), rng, group_versions).items():
        delete_last = group in temps and count > 1 and rng.random() < 0.5
        for version in range(1, count + 1):
            members = rng.sample(users, rng.randint(1, min(4, len(users))))
            workload.identities.append(
                group_event(group, version, members, delete=delete_last and version == count)
            )
    documents = [f"file://{prefix}reliability/doc-{i:05d}.txt" for i in range(max(1, items // 2))]
    for document, count in _spread(documents, items, rng, 4).items():
        delete_last = count > 1 and rng.random() < 0.1
        for version in range(1, count + 1):
            event = item_event(
                document,
                version,
                team=rng.choice(team_names),
                denied=rng.choice(users),
                provider=provider,
                delete=delete_last and version == count,
            )
            workload.items.append(event)
    return workload


def _spread(keys: Sequence[str], total: int, rng: random.Random, most: int) -> dict[str, int]:
    """`total` versions over `keys`: at least one each and at most `most` (as far as total allows)."""
    counts = dict.fromkeys(keys, 1)
    room = [key for key in keys for _ in range(most - 1)]
    for key in rng.sample(room, min(max(0, total - len(keys)), len(room))):
        counts[key] += 1
    return counts


def interleave(events: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Keys shuffled together, each key's versions still oldest first (upstream's natural order)."""
    rng = random.Random(seed)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(events, key=lambda e: e["data"]["version"]):
        by_key.setdefault(_subject(event), []).append(event)
    slots = [key for key, versions in by_key.items() for _ in versions]
    rng.shuffle(slots)
    queues = {key: iter(versions) for key, versions in by_key.items()}
    return [next(queues[key]) for key in slots]


def disorder(events: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Every event 1-3 times, all shuffled: what an at-least-once, unordered upstream delivers."""
    rng = random.Random(seed)
    copies = [event for event in events for _ in range(rng.randint(1, 3))]
    rng.shuffle(copies)
    return copies


def _subject(event: Mapping[str, Any]) -> str:
    data = event["data"]
    return str(data.get("documentId") or f"{event['type'] == 'identity.aliased'}:{data['identity']['name']}")


# --- faults ---------------------------------------------------------------------------------------

PUSH = "* /push/*"  # every Push API route (fnmatch's * spans slashes)
UPLOAD = "PUT /s3/*"  # the file-container upload, served by the emulator as S3 would
# Routes that change something: a "lost" 202 there silently drops the operation.
MUTATION_ROUTES = (
    "PUT /push/v1/organizations/*/sources/*/documents",
    "DELETE /push/v1/organizations/*/sources/*/documents",
    "PUT /push/v1/organizations/*/sources/*/documents/batch",
    "PUT /push/v1/organizations/*/providers/*/permissions",
    "PUT /push/v1/organizations/*/providers/*/mappings",
    "DELETE /push/v1/organizations/*/providers/*/permissions",
    "PUT /push/v1/organizations/*/providers/*/permissions/batch",
)


@dataclass(frozen=True)
class FaultProfile:
    """The issue's rates; slow answers just under and just over the client timeout."""

    throttled: float = 0.20  # 429 with Retry-After: 1
    unavailable: float = 0.05  # 503
    dropped: float = 0.02  # connection closed without an answer (push routes and uploads)
    upload_denied: float = 0.02  # S3 403 on the upload (client-side, see SignatureTamperer)
    lost: float = 0.02  # 202, then the operation silently dropped (mutations)
    slow: float = 0.02  # answered after 85 % of the client timeout
    too_slow: float = 0.01  # answered after 125 % of it: the client times out and retries
    client_timeout_s: float = 2.0


def fault_rules(profile: FaultProfile, seed: int, *, guaranteed: bool = True) -> dict[str, Any]:
    """The emulator's rules for `profile`.

    The emulator fires the first rule whose draw succeeds, so each later rule's probability is
    raised to keep its class at the profile's rate of all requests. `lose` comes first, on the
    mutation routes only. With `guaranteed`, a last rule per class fires once on the first request
    nothing else faulted, so every class happens however few requests a run makes.
    """
    timeout = profile.client_timeout_s
    slow = round(0.85 * timeout, 3)
    too_slow = round(1.25 * timeout, 3)

    def chain(route: str, classes: Sequence[tuple[str, float, dict[str, Any]]]) -> list[dict[str, Any]]:
        rules, left = [], 1.0
        for action, rate, extra in classes:
            rules.append({"route": route, "action": action, "probability": min(1.0, rate / left), **extra})
            left -= rate
        return rules

    rules = [{"route": route, "action": "lose", "probability": profile.lost} for route in MUTATION_ROUTES]
    rules += chain(
        PUSH,
        [
            ("429", profile.throttled, {"retryAfter": 1}),
            ("503", profile.unavailable, {}),
            ("drop", profile.dropped, {}),
            ("delay", profile.slow, {"delaySeconds": slow}),
            ("delay", profile.too_slow, {"delaySeconds": too_slow}),
        ],
    )
    rules += chain(UPLOAD, [("drop", profile.dropped, {})])
    if guaranteed:
        rules += [
            {"route": PUSH, "action": "429", "retryAfter": 1, "count": 1},
            {"route": PUSH, "action": "503", "count": 1},
            {"route": PUSH, "action": "drop", "count": 1},
            {"route": PUSH, "action": "delay", "delaySeconds": slow, "count": 1},
            {"route": PUSH, "action": "delay", "delaySeconds": too_slow, "count": 1},
            {"route": UPLOAD, "action": "drop", "count": 1},
            {"route": "PUT */documents/batch", "action": "lose", "count": 1},
            {"route": "PUT */permissions/batch", "action": "lose", "count": 1},
        ]
    return {"seed": seed, "rules": rules}


def fault_counts(faults: Mapping[str, Any], tamperer: SignatureTamperer | None = None) -> dict[str, int]:
    """GET /_emulator/faults (and the tamperer) → how often each class was answered."""
    delays = sorted({r["delaySeconds"] for r in faults["rules"] if r["action"] == "delay"})
    names = {"429": "429", "503": "503", "drop": "dropped connection", "lose": "202-then-lost"}
    counts: Counter[str] = Counter()
    for rule in faults["rules"]:
        action = rule["action"]
        if action == "delay":
            name = (
                "slow (under the timeout)" if rule["delaySeconds"] == delays[0] else "slow (over the timeout)"
            )
        else:
            name = names.get(action, action)
        counts[name] += rule["fired"]
    if tamperer is not None:
        counts["S3 upload 403"] = tamperer.tampered
    return dict(counts)


class SignatureTamperer(httpx.BaseTransport):
    """Corrupts the presigned signature of a share of uploads: the emulator answers S3's 403.

    The emulator's fault rules have no 403 action; a signature S3 rejects is the same answer an
    expired presigned URL gets (the client then takes a new container once, then gives up).
    """

    def __init__(self, probability: float, seed: int, guaranteed: int = 1) -> None:
        self._inner = httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16)
        )
        self._probability = probability
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._guaranteed = guaranteed
        self.tampered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path.startswith("/s3/"):
            with self._lock:
                tamper = self._guaranteed > 0 or self._rng.random() < self._probability
                if tamper:
                    self._guaranteed -= 1
                    self.tampered += 1
            if tamper:
                signature = request.url.params.get("X-Amz-Signature", "")
                request.url = request.url.copy_set_param("X-Amz-Signature", "0" * len(signature))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


# --- a stack that records what became of every message ------------------------------------------


class AtomicDynamoDB:
    """A DynamoDB client whose requests are atomic per item, as DynamoDB's are.

    moto applies a conditional update in steps (it stores the bare key, then sets the attributes)
    with no lock, so concurrent pollers can read a half-written ledger row or both pass the same
    condition. Here a request holds the locks of the items it names (a query or scan, all of them);
    requests on other items still run at once, as the connector's concurrent claims expect.
    """

    _stripes = tuple(threading.Lock() for _ in range(64))

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("exceptions", "meta"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            locks = [self._stripes[i] for i in self._stripes_of(name, kwargs)]
            for lock in locks:  # always in stripe order: no deadlock
                lock.acquire()
            try:
                return attribute(*args, **kwargs)
            finally:
                for lock in reversed(locks):
                    lock.release()

        return call

    def _stripes_of(self, name: str, request: Mapping[str, Any]) -> list[int]:
        keys: list[Any] = []
        if "Key" in request:
            keys = [request["Key"]]
        elif name == "put_item":
            keys = [request["Item"]]
        elif name == "batch_get_item":
            keys = [key for table in request["RequestItems"].values() for key in table["Keys"]]
        elif name == "transact_write_items":
            keys = [next(iter(op.values()))["Key"] for op in request["TransactItems"]]
        if not keys:
            return list(range(len(self._stripes)))
        return sorted(
            {zlib.crc32(json.dumps(key, sort_keys=True).encode()) % len(self._stripes) for key in keys}
        )


def atomic_clients(factory: Callable[[str], Any]) -> Callable[[str], Any]:
    """The boto3 client factory, with DynamoDB clients made atomic per request."""

    def client(service: str, **options: Any) -> Any:
        made = factory(service, **options)
        return AtomicDynamoDB(made) if service == "dynamodb" else made

    return client


@dataclass
class Recorder:
    """Per message id: its event id (read from the body) and its last disposition. Thread-safe."""

    outcomes: dict[str, tuple[str | None, Disposition, str | None]] = field(default_factory=dict)
    by_body: dict[str, Disposition] = field(default_factory=dict)
    invocations: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, messages: Sequence[Message], report: BatchReport) -> None:
        bodies = {message.message_id: message.body for message in messages}
        with self._lock:
            self.invocations += 1
            for message_id, outcome in report.outcomes.items():
                body = bodies.get(message_id, "")
                self.outcomes[message_id] = (event_id_of(body), outcome.disposition, outcome.reason)
                self.by_body[body] = outcome.disposition

    def by_event(self) -> dict[str, set[Disposition]]:
        with self._lock:
            found: dict[str, set[Disposition]] = {}
            for event_id, disposition, _ in self.outcomes.values():
                if event_id is not None:
                    found.setdefault(event_id, set()).add(disposition)
            return found


class RecordingPipeline:
    """Hands each batch to the real pipeline and tells the recorder what became of it."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def process(self, messages: Sequence[Message], remaining_s: Callable[[], float]) -> BatchReport:
        report: BatchReport = self.inner.process(messages, remaining_s)
        self.recorder.record(messages, report)
        return report


class FunctionKilled(BaseException):
    """The Lambda runtime ending a function mid-invocation (killed, out of memory): no code in the
    function can catch that, so this is no `Exception` that a broad `except Exception` in the
    product would swallow. `ReliabilityStack.poller` turns it into the invocation's error."""


@dataclass
class ReliabilityStack(LocalStack):
    """A LocalStack whose pollers record dispositions. `wrap(pipeline, queue)` may replace a
    queue's pipeline (crash tests); `function_timeout_s` overrides the template's for the pollers."""

    recorder: Recorder = field(default_factory=Recorder)
    wrap: Callable[[Pipeline, str], Any] | None = None
    function_timeout_s: float | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime.from_env(self.env(), client=atomic_clients(self.aws.client))
        return self._runtime

    def poller(
        self, queue: str, *, retry_visibility_s: float | None = 0.2, sqs: Any = None
    ) -> SqsEventSourcePoller:
        kind, function_name = FUNCTIONS[queue]
        handler = make_lambda_handler(kind, function_name)
        inner: Any = self.pipeline(queue)
        pipeline = RecordingPipeline(self.wrap(inner, queue) if self.wrap else inner, self.recorder)

        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            try:
                return handler(event, context, pipeline=pipeline)
            except FunctionKilled as killed:  # Lambda reports the invocation as failed
                raise RuntimeError(f"Runtime exited: {killed}") from None

        poller = SqsEventSourcePoller.from_settings(
            self.event_sources()[queue],
            sqs or self.aws.client("sqs"),
            self.resources.queue_url(queue),
            self.resources.queue_arn(queue),
            invoke,
            retry_visibility_s=retry_visibility_s,
        )
        if self.function_timeout_s is not None:
            poller.function_timeout_s = self.function_timeout_s
        return poller

    def drain_with(
        self, workers: int, timeout_s: float = 120.0, *, idle_sleep_s: float = 0.05
    ) -> dict[str, list[DrainResult]]:
        """Identities, then items, each queue with `workers` concurrent pollers (as
        drain_concurrently runs them; idle pollers wait `idle_sleep_s` before polling again)."""
        results: dict[str, list[DrainResult]] = {}
        for queue in (IDENTITY_QUEUE, ITEM_QUEUE):

            def drain(_: int, queue: str = queue) -> DrainResult:
                with self.poller(queue, sqs=self.aws.client("sqs")) as poller:
                    return poller.run_until_drained(timeout_s, idle_sleep_s=idle_sleep_s)

            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sqs-poller") as pool:
                results[queue] = list(pool.map(drain, range(workers)))
        return results

    def use_client(self, *, timeout_s: float, transport: httpx.BaseTransport | None = None) -> CoveoClient:
        """The functions' Coveo client with this timeout (and transport): the tier scales the
        30-second production timeout down so that answers near it stay quick."""
        runtime = Runtime.from_env(self.env(), client=atomic_clients(self.aws.client))
        key = api_key_from_secret(runtime.settings.api_key_secret, self.aws.client("secretsmanager"))
        runtime.coveo = CoveoClient(
            runtime.settings.organization_id,
            key,
            base_url=runtime.settings.base_url,
            http_client=httpx.Client(transport=transport) if transport is not None else None,
            timeout=httpx.Timeout(timeout_s, connect=min(1.0, timeout_s)),
        )
        self._runtime = runtime
        return runtime.coveo

    # --- reading state back ----------------------------------------------------------------------

    def emulator(self, path: str, method: str = "GET", body: Any = None) -> Any:
        response = httpx.request(method, f"{self.coveo.base_url}/_emulator/{path}", json=body, timeout=120)
        response.raise_for_status()
        return response.json()

    def ledger_rows(self) -> dict[str, dict[str, Any]]:
        """Every key's ledger state by key, as the ledger reads it back (a head's status is settled
        by its acceptance part), under the attribute names the rows once had; numbers as strings."""
        rows: dict[str, dict[str, Any]] = {}
        for state in self.runtime.ledger().all_rows():
            row: dict[str, Any] = {
                "pk": state.key,
                "status": state.status.value,
                "version": str(state.version),
                "orderingId": str(state.ordering_id),
                "attempts": str(state.attempts),
                **({"eventId": state.event_id} if isinstance(state, Head) and state.event_id else {}),
            }
            if isinstance(state, Row):
                row |= {
                    "eventId": state.event_id,
                    "pushedAt": str(state.pushed_at_ms),
                    "repushes": str(state.repushes),
                    "subject": state.subject,
                    **({"failureReason": state.failure_reason} if state.failure_reason else {}),
                    **({"change": state.change} if state.change is not None else {}),
                }
            rows[state.key] = row
        return rows

    def take_dead_letters(self) -> list[dict[str, Any]]:
        """Every dead letter with its reason (see LocalStack.dead_letters), then empty the DLQs."""
        found = self.dead_letters()
        sqs = self.aws.client("sqs")
        for dlq in DEAD_LETTER_QUEUES.values():
            url = self.resources.queue_url(dlq)
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )
        return found

    def settle(self, timeout_s: float, poll_s: float = 0.5) -> dict[str, int]:
        """Run the validator, as its schedule would, until nothing is pending; totals of the runs."""
        totals: Counter[str] = Counter()
        deadline = time.monotonic() + timeout_s
        while True:
            report = self.validate()
            totals.update(verified=report.verified, failed=report.failed, repushed=report.repushed, runs=1)
            if report.pending == 0 or time.monotonic() > deadline:
                totals["pending"] = report.pending
                return dict(totals)
            time.sleep(poll_s)

    def effective_access(self, document_id: str, index_id: str) -> dict[str, bool]:
        """User → allowed, from the item's effective permissions (the real Coveo route), and
        `ANONYMOUS` → the route's `anonymousAllowed` (an item anyone may see)."""
        url = (
            f"{self.coveo.base_url}/rest/organizations/{self.coveo.organization_id}/indexes/{index_id}"
            f"/documents/{quote(document_id, safe='')}/permissions/effective"
        )
        key = api_key_from_secret(self.resources.api_key_secret_name, self.aws.client("secretsmanager"))
        response = httpx.get(
            url, headers={"Authorization": f"Bearer {key}"}, params={"perPage": 1000}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        return {
            **{entry["identity"]: entry["allowed"] for entry in body["items"]},
            ANONYMOUS: body["anonymousAllowed"],
        }


# --- accounting -----------------------------------------------------------------------------------

VERIFIED, STALE, FAILED, DEAD_LETTERED, LOST = "verified", "stale", "failed", "dead_lettered", "lost"
CLASSES = (VERIFIED, STALE, FAILED, DEAD_LETTERED, LOST)


@dataclass
class Accounting:
    """Every sent event id in exactly one class:

    - verified: its version holds the ledger row and the validator saw it land.
    - stale: skipped by the stale guard, or pushed and then replaced by a newer version of its key.
    - failed: the validator marked its push FAILED with a reason (`coveo-push failures` lists it);
      a 202-then-lost push ends here once the validation deadline passes.
    - dead_lettered: in a DLQ with a reason.
    - lost: none of these.

    `problems` are breaches of "newer wins" and rows left mid-flight; `behind` maps each key whose
    newest version is not verified to that version's class.
    """

    classes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # failed or dead-lettered event → why
    problems: list[str] = field(default_factory=list)
    behind: dict[str, str] = field(default_factory=dict)

    def count(self, name: str) -> int:
        return sum(1 for value in self.classes.values() if value == name)

    def table(self) -> dict[str, int]:
        return {"sent": len(self.classes), **{name: self.count(name) for name in CLASSES}}

    def lost(self) -> list[str]:
        return sorted(event_id for event_id, value in self.classes.items() if value == LOST)


def account(
    stack: ReliabilityStack, workload: Workload, *, check_access: bool = False, strict: bool = False
) -> Accounting:
    """Classify every event of `workload`; with `strict`, Coveo must hold the newest version of
    every key whatever the ledger says (for runs where nothing was lost on the way)."""
    provider = workload.provider
    result = Accounting()
    rows = stack.ledger_rows()
    dead_letters = stack.dead_letters()
    dead = {d["eventId"]: d["reason"] or "" for d in dead_letters if d["eventId"]}
    # "In a DLQ with a reason a person can read": one SQS moved after maxReceiveCount has none.
    result.problems += [
        f"dead letter {d['eventId'] or d['messageId']} has no reason ({d['errorKind']})"
        for d in dead_letters
        if not d["reason"]
    ]
    handled = stack.recorder.by_event()
    for event in workload.events:
        event_id, version = event["id"], event["data"]["version"]
        row = rows.get(key_of(event, provider))
        row_version = int(row["version"]) if row else None
        if row is not None and row_version == version and row["status"] in ("VERIFIED", "FAILED"):
            name = VERIFIED if row["status"] == "VERIFIED" else FAILED
            if name == FAILED:
                result.reasons[event_id] = row.get("failureReason") or ""
        elif event_id in dead:
            name = DEAD_LETTERED
            result.reasons[event_id] = dead[event_id]
        elif (
            row_version is not None
            and row_version > version
            and handled.get(event_id, set()) & {Disposition.STALE, Disposition.PUSHED}
        ):
            name = STALE
        else:
            name = LOST
        result.classes[event_id] = name
    for key, row in rows.items():
        if row["status"] in ("CLAIMED", "ACCEPTED") and row.get("eventId") not in dead:
            result.problems.append(f"ledger row {key} v{row['version']} left {row['status']}")
    state = stack.emulator("state")
    _check_newest(result, workload, state, strict=strict)
    if check_access:
        _check_access(result, stack, workload, state)
    return result


def _check_newest(result: Accounting, workload: Workload, state: Mapping[str, Any], *, strict: bool) -> None:
    """Where a key's newest version was verified (any key, with `strict`), Coveo must hold it."""
    items = state["items"]
    entities = {entity["name"]: entity for entity in state["identities"].get(workload.provider, [])}
    for key, event in workload.newest().items():
        fate, data = result.classes[event["id"]], event["data"]
        version = data["version"]
        if fate != VERIFIED:
            result.behind[key] = fate
        checked = fate == VERIFIED or strict
        if event["type"].startswith("item."):
            item = items.get(data["documentId"])
            held = item["metadata"].get("rev") if item and item["indexed"] else None
            if held is not None and held > version:
                result.problems.append(f"{key}: the index holds v{held}, newer than anything sent")
            wanted = version if event["type"] == "item.upserted" else None
            if checked and held != wanted:
                result.problems.append(f"{key}: newest v{version} ({fate}), but the index holds {held}")
        elif event["type"] != "identity.aliased" and checked:
            entity = entities.get(data["identity"]["name"])
            if event["type"] == "identity.deleted":
                # Deleting a group the cache never had leaves nothing to see: that is gone too.
                if entity is not None and entity["state"] != "DISABLED":
                    result.problems.append(f"{key}: deleted in v{version}, but not DISABLED in the cache")
                continue
            members = sorted(m["name"] for m in data["members"])
            held_members = sorted(m["name"] for m in entity["members"]) if entity else None
            rev = entity["additionalInfo"].get("rev") if entity else None
            if held_members != members or rev != str(version):
                result.problems.append(
                    f"{key}: newest v{version} ({fate}), but the cache holds rev {rev} with {held_members}"
                )


def expected_access(workload: Workload, event: Mapping[str, Any]) -> dict[str, bool]:
    """Who may see an item version under the newest identities: the granted team's members and
    their aliases, except the denied user and its alias; never an anonymous user."""
    model = event["data"]["document"]["permissions"][0]
    team = model["allowedPermissions"][0]["identity"]
    denied = model["deniedPermissions"][0]["identity"]
    group = workload.newest()[f"identity#{workload.provider}#GROUP#{team}"]
    members = [m["name"] for m in group["data"]["members"]] if group["type"] == "identity.upserted" else []
    access = {name: True for member in members for name in (member, alias_of(member))}
    access.update({denied: False, alias_of(denied): False, ANONYMOUS: False})
    return access


def _check_access(
    result: Accounting, stack: ReliabilityStack, workload: Workload, state: Mapping[str, Any]
) -> None:
    for key, event in workload.newest().items():
        if event["type"] != "item.upserted" or result.classes[event["id"]] != VERIFIED:
            continue
        actual = stack.effective_access(event["data"]["documentId"], state["indexId"])
        wanted = expected_access(workload, event)
        if actual != wanted:
            result.problems.append(f"{key}: access {actual}, but the newest identities say {wanted}")


def send_all(stack: LocalStack, events: Iterable[Any]) -> int:
    return sum(stack.send(events).values())


def format_table(rows: Mapping[str, Mapping[str, int]]) -> str:
    """Scenario rows of sent / verified / stale / failed / dead-lettered / lost, aligned."""
    columns = ["sent", *CLASSES]
    width = max(len(name) for name in rows) + 2
    lines = [f"{'scenario':<{width}}" + "".join(f"{c:>15}" for c in columns)]
    for name, counts in rows.items():
        lines.append(f"{name:<{width}}" + "".join(f"{counts.get(c, 0):>15}" for c in columns))
    return "\n".join(lines)
