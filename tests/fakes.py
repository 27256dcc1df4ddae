"""In-memory stand-ins for the pipeline's adapters, recording what the handler did."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from coveo_push_api import BatchReceipt, CoveoError, Deadline
from coveo_push_api.models import BaseIdentityBody, BatchDelete, IdentityBody, ItemBody, MappedIdentityBody


@dataclass
class CoveoCall:
    name: str
    target: str  # documentId, provider or source
    ordering_id: int | None
    payload: Any = None


@dataclass
class FakeCoveo:
    """Records calls; `failures` maps a call name to errors raised on its next calls, in order."""

    calls: list[CoveoCall] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    fail_document: dict[str, Exception] = field(default_factory=dict)  # documentId → error on single push
    requests_sent: int = 0
    prefetches: int = 0  # file containers asked for ahead of a batch push (its 3 requests count them)
    _files: Iterable[int] = field(default_factory=itertools.count)

    def _call(
        self, name: str, target: str, ordering_id: int | None, payload: Any = None, requests: int = 1
    ) -> None:
        pending = self.failures.get(name)
        if pending:
            self.requests_sent += 1
            raise pending.pop(0)
        self.requests_sent += requests
        self.calls.append(CoveoCall(name, target, ordering_id, payload))

    def prefetch_file_container(self, *, deadline: Deadline | None = None) -> None:
        self.prefetches += 1

    def push_item(
        self,
        source_id: str,
        document_id: str,
        item: ItemBody,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        if document_id in self.fail_document:
            self.requests_sent += 1
            raise self.fail_document[document_id]
        self._call("push_item", document_id, ordering_id, item)

    def delete_item(
        self,
        source_id: str,
        document_id: str,
        *,
        delete_children: bool = False,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self._call("delete_item", document_id, ordering_id, delete_children)

    def push_items(
        self,
        source_id: str,
        add_or_update: Iterable[ItemBody] = (),
        delete: Iterable[BatchDelete] = (),
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> list[BatchReceipt]:
        adds, deletes = list(add_or_update), list(delete)
        self._call("push_items", source_id, ordering_id, (adds, deletes), requests=3)
        return [
            BatchReceipt(
                f"file-{next(iter(self._files))}", 100, {"addOrUpdate": len(adds), "delete": len(deletes)}
            )
        ]

    def push_identity(
        self,
        provider_id: str,
        body: IdentityBody,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self._call("push_identity", provider_id, ordering_id, body)

    def push_alias(
        self,
        provider_id: str,
        body: MappedIdentityBody,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self._call("push_alias", provider_id, ordering_id, body)

    def delete_identity(
        self,
        provider_id: str,
        body: BaseIdentityBody,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self._call("delete_identity", provider_id, ordering_id, body)

    def push_identities(
        self,
        provider_id: str,
        members: Iterable[IdentityBody] = (),
        mappings: Iterable[MappedIdentityBody] = (),
        deleted: Iterable[BaseIdentityBody] = (),
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> list[BatchReceipt]:
        payload = (list(members), list(mappings), list(deleted))
        self._call("push_identities", provider_id, ordering_id, payload, requests=3)
        return [BatchReceipt("file-identities", 100, {"members": len(payload[0])})]

    # --- what a full sync asks beyond pushes --------------------------------------------------------

    documents: int = 0  # what count_documents answers
    identities: int = 0  # what count_identities answers

    def set_source_status(self, source_id: str, status: str, *, deadline: Deadline | None = None) -> None:
        self._call("set_source_status", source_id, None, status)

    def count_documents(self, source_id: str) -> int:
        self._call("count_documents", source_id, None)
        return self.documents

    def count_identities(self, provider_id: str) -> int:
        self._call("count_identities", provider_id, None)
        return self.identities

    def delete_items_older_than(
        self,
        source_id: str,
        ordering_id: int,
        *,
        queue_delay_minutes: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self._call("delete_items_older_than", source_id, ordering_id, queue_delay_minutes)

    def delete_identities_older_than(
        self,
        provider_id: str,
        ordering_id: int,
        *,
        queue_delay_minutes: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self._call("delete_identities_older_than", provider_id, ordering_id, queue_delay_minutes)

    def named(self, name: str) -> list[CoveoCall]:
        return [call for call in self.calls if call.name == name]


@dataclass
class DeadLetter:
    body: str
    reason: str
    kind: str
    event_id: str | None
    event_type: str | None


@dataclass
class FakeDeadLetters:
    sent: list[DeadLetter] = field(default_factory=list)
    broken: bool = False

    def send(
        self, body: str, *, reason: str, kind: str, event_id: str | None, event_type: str | None
    ) -> None:
        if self.broken:
            raise ConnectionError("DLQ unreachable")
        self.sent.append(DeadLetter(body, reason, kind, event_id, event_type))

    def reasons(self) -> dict[str | None, str]:
        return {d.event_id: d.reason for d in self.sent}


@dataclass
class FakeContent:
    objects: dict[str, bytes] = field(default_factory=dict)

    def fetch(self, uri: str) -> bytes:
        return self.objects[uri]


@dataclass
class FakeLambdaContext:
    remaining_ms: int = 300_000
    function_name: str = "push_items"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:push_items"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def transient() -> CoveoError:
    from coveo_push_api import CoveoServerError

    return CoveoServerError("Service Unavailable", status=503)


def filtered_logs(entries: Iterable[dict[str, Any]], request: Any) -> list[Any]:
    """Log entries as the Logs API filters them: the request's include lists of results and tasks."""
    from coveo_push_api.models import LogEntry

    parsed = [LogEntry.model_validate(e) for e in entries]
    return [
        e
        for e in parsed
        if (not request.results or e.result in request.results)
        and (not request.tasks or e.task in request.tasks)
    ]
