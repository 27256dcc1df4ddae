"""The whole connector on one machine: moto for AWS, the emulator for Coveo, the real handlers.

Pipeline tests and `coveo-push local` both use this: the resources come from template.yaml, the
handlers are the ones Lambda runs (built from the same environment variables), and pollers stand in
for Lambda's SQS event source mapping with the template's batch size and window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.domain.events import Kind, event_id_of
from connector.domain.pipeline import Pipeline
from connector.domain.validator import ValidationReport
from connector.entry.handler import make_lambda_handler
from connector.entry.runtime import Runtime

from .cloudformation import (
    API_KEY_SECRET_PARAMETER,
    EventSourceSettings,
    LocalResources,
    event_source_settings,
    function_environment,
)
from .moto_server import MotoServer
from .poller import DrainResult, SqsEventSourcePoller

ITEM_QUEUE, IDENTITY_QUEUE = "ItemQueue", "IdentityQueue"
DEAD_LETTER_QUEUES = {ITEM_QUEUE: "ItemDeadLetterQueue", IDENTITY_QUEUE: "IdentityDeadLetterQueue"}
FUNCTIONS = {ITEM_QUEUE: (Kind.ITEM, "push_items"), IDENTITY_QUEUE: (Kind.IDENTITY, "push_identities")}
# The errorKind of a dead letter SQS moved after maxReceiveCount deliveries (it carries no reason).
RETRIES_EXHAUSTED = "retries-exhausted"
# The template's functions the local runtime stands in for.
FUNCTION_IDS = ("PushItemsFunction", "PushIdentitiesFunction", "ValidatePushesFunction")
# Variables each function sets to its own value; the shared runtime reads none of them.
PER_FUNCTION_VARIABLES = frozenset({"POWERTOOLS_SERVICE_NAME"})


@dataclass
class CoveoTarget:
    base_url: str
    organization_id: str
    source_id: str
    provider_id: str


@dataclass
class LocalStack:
    aws: MotoServer
    resources: LocalResources
    coveo: CoveoTarget
    template_path: Path
    #: environment overrides, e.g. {"SAFETY_MARGIN_SECONDS": "1"}
    overrides: Mapping[str, str] = field(default_factory=dict)
    template_parameters: Mapping[str, str] = field(default_factory=dict)
    _runtime: Runtime | None = None

    def function_env(self, function_id: str) -> dict[str, str]:
        """The environment template.yaml gives one function, resolved against the local resources
        (`cloudformation.function_environment`), then the local Coveo target, then `overrides`.

        Parameters the template leaves to the deployer take local values unless
        `template_parameters` names them: the Coveo organization, source and provider of the
        emulator, the provisioned API-key secret, and no processing delay (the emulator indexes at
        once). Everything else, ALLOW_PUBLIC_ITEMS included, is what the template says."""
        coveo = self.coveo
        parameters = {
            "CoveoOrganizationId": coveo.organization_id,
            "CoveoSourceId": coveo.source_id,
            "CoveoProviderId": coveo.provider_id,
            API_KEY_SECRET_PARAMETER: self.resources.api_key_secret_name,
            "ProcessingDelaySeconds": "0",
            **self.template_parameters,
        }
        env = function_environment(self.template_path, function_id, self.resources, parameters)
        return {
            **env,
            "COVEO_ORGANIZATION_ID": coveo.organization_id,
            "COVEO_SOURCE_ID": coveo.source_id,
            "COVEO_PROVIDER_ID": coveo.provider_id,
            "COVEO_BASE_URL": coveo.base_url,
            **self.overrides,
        }

    def env(self) -> dict[str, str]:
        """The environment of the one runtime the local functions share: every variable the
        template gives the item, identity and validator functions (with local values, see
        `function_env`). Where they differ (only their Powertools service name may), the variable
        is left out: each handler names its service itself."""
        merged: dict[str, str] = {}
        differing: set[str] = set()
        for function_id in FUNCTION_IDS:
            for name, value in self.function_env(function_id).items():
                if merged.setdefault(name, value) != value:
                    differing.add(name)
        if differing - PER_FUNCTION_VARIABLES:
            raise ValueError(
                f"the functions' environments differ in {sorted(differing - PER_FUNCTION_VARIABLES)}: "
                "one local runtime cannot serve them all"
            )
        return {name: value for name, value in merged.items() if name not in differing}

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime.from_env(self.env(), client=self.aws.client)
        return self._runtime

    def pipeline(self, queue: str) -> Pipeline:
        kind, function_name = FUNCTIONS[queue]
        return self.runtime.pipeline(kind, function_name)

    def event_sources(self) -> dict[str, EventSourceSettings]:
        return event_source_settings(self.template_path, self.template_parameters)

    def poller(
        self, queue: str, *, retry_visibility_s: float | None = 0.2, sqs: Any = None
    ) -> SqsEventSourcePoller:
        """A poller configured as the template configures the queue's function."""
        kind, function_name = FUNCTIONS[queue]
        handler = make_lambda_handler(kind, function_name)
        pipeline = self.pipeline(queue)

        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return handler(event, context, pipeline=pipeline)

        return SqsEventSourcePoller.from_settings(
            self.event_sources()[queue],
            sqs or self.aws.client("sqs"),
            self.resources.queue_url(queue),
            self.resources.queue_arn(queue),
            invoke,
            retry_visibility_s=retry_visibility_s,
        )

    # --- sending ------------------------------------------------------------------------------------

    def send(self, events: Iterable[Any], scopes: dict[str, str] | None = None) -> dict[str, int]:
        """`item.*` to the item queue, `identity.*` to the identity queue, `sync.*` to the queue of
        their scope; a string is sent as the raw body (to try malformed input) to the item queue.
        `scopes` (syncId → scope, filled in as `sync.started` events go by, and kept by the caller
        across stages) routes a `sync.completed` that names no scope. Returns messages sent per queue."""
        scopes = {} if scopes is None else scopes
        bodies: dict[str, list[str]] = {ITEM_QUEUE: [], IDENTITY_QUEUE: []}
        for event in events:
            if isinstance(event, str):
                bodies[ITEM_QUEUE].append(event)
            else:
                bodies[queue_of(event, scopes)].append(json.dumps(event))
        sqs = self.aws.client("sqs")
        for queue, queue_bodies in bodies.items():
            url = self.resources.queue_url(queue)
            for start in range(0, len(queue_bodies), 10):
                entries = [
                    {"Id": str(i), "MessageBody": body}
                    for i, body in enumerate(queue_bodies[start : start + 10])
                ]
                response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
                if response.get("Failed"):
                    raise RuntimeError(f"SQS refused messages: {response['Failed']}")
        return {queue: len(b) for queue, b in bodies.items()}

    # --- running ------------------------------------------------------------------------------------

    def drain(
        self, timeout_s: float = 60.0, *, retry_visibility_s: float | None = 0.2
    ) -> dict[str, DrainResult]:
        """Identities first, then items (Coveo's advice when both arrive together), until both queues are empty."""
        results = {}
        for queue in (IDENTITY_QUEUE, ITEM_QUEUE):
            with self.poller(queue, retry_visibility_s=retry_visibility_s) as poller:
                results[queue] = poller.run_until_drained(timeout_s)
        return results

    def validate(self) -> ValidationReport:
        return self.runtime.validator("validate_pushes").run()

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in both DLQs with its reason (messages stay in the queues): the `reason`
        and `errorKind` the pipeline wrote as message attributes, or, for a message SQS moved after
        maxReceiveCount failed deliveries, reason None and errorKind `RETRIES_EXHAUSTED`."""
        sqs = self.aws.client("sqs")
        found: list[dict[str, Any]] = []
        for queue, dlq in DEAD_LETTER_QUEUES.items():
            url = self.resources.queue_url(dlq)
            seen: set[str] = set()
            handles: list[str] = []
            while True:
                response = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
                )
                messages = [m for m in response.get("Messages", []) if m["MessageId"] not in seen]
                if not messages:
                    break
                for message in messages:
                    seen.add(message["MessageId"])
                    handles.append(message["ReceiptHandle"])
                    attributes = {
                        k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()
                    }
                    found.append(
                        {
                            "queue": queue,
                            "messageId": message["MessageId"],
                            "eventId": attributes.get("eventId") or event_id_of(message["Body"]),
                            "eventType": attributes.get("eventType"),
                            # A message SQS moved here after maxReceiveCount has no reason
                            # attribute: its reason is None, not one made up here, so that "every
                            # dead letter says why" stays something a test can find false.
                            "reason": attributes.get("reason"),
                            "errorKind": attributes.get("errorKind") or RETRIES_EXHAUSTED,
                            "body": message["Body"],
                        }
                    )
            _release(sqs, url, handles)
        return found


def queue_of(event: Mapping[str, Any], scopes: dict[str, str]) -> str:
    """The queue an event belongs on (see `LocalStack.send`); notes a sync.started's scope."""
    event_type = str(event.get("type") or event.get("detail-type") or "")
    if event_type.startswith("identity."):
        return IDENTITY_QUEUE
    if not event_type.startswith("sync."):
        return ITEM_QUEUE
    data = event.get("detail") if "detail-type" in event else event.get("data")
    data = data if isinstance(data, Mapping) else {}
    sync_id, scope = data.get("syncId"), data.get("scope")
    if isinstance(sync_id, str) and isinstance(scope, str) and event_type == "sync.started":
        scopes.setdefault(sync_id, scope)
    if not isinstance(scope, str) and isinstance(sync_id, str):
        scope = scopes.get(sync_id)
    return IDENTITY_QUEUE if scope == "identities" else ITEM_QUEUE


def _release(sqs: Any, url: str, handles: Sequence[str]) -> None:
    for start in range(0, len(handles), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, h in enumerate(handles[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
