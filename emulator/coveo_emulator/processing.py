"""The asynchronous pipeline: a 202 now, the effect later.

Deterministic without background threads: every accepted operation is queued with a due time
(receipt + processing delay, + queueDelay for "older than" operations) and, before any request is
handled, every operation that is due is applied in due order. With a delay of 0 an operation is
visible to the very next request. Operations are applied at their due time (log entries carry it),
so the Logs API sees a chronological history whatever the request timing.

Item operations go through the stages Coveo logs (CONSUMING / CONSUMING_BATCH, PROCESSING,
MAPPING, INDEXING) and every outcome is a Logs API entry; ``meta`` carries the reason:
``{"error": ...}`` for REJECTED/ERROR, ``{"warning": ...}`` for WARNING, ``{"reason": ...}`` for
SKIPPED. Identity operations are not indexing-pipeline events: their outcome is the security-cache
entity state (and the emulator's identity log in /_emulator/state).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import logging
import lzma
import zlib
from dataclasses import dataclass
from typing import Any

from coveo_emulator import wire
from coveo_emulator.config import EmulatorConfig
from coveo_emulator.permissions import all_entries
from coveo_emulator.state import Container, EmulatorState, EntityKey, IdentityLogEntry, Item
from coveo_emulator.wire import IdentityBody, ParsedDocument, WireError

_log = logging.getLogger("coveo_emulator")

# -------------------------------------------------------------------------------------------
# Operations (what a 202 promised)


@dataclass(slots=True)
class UpsertItem:
    doc: ParsedDocument
    ordering_id: int


@dataclass(slots=True)
class DeleteItem:
    document_id: str
    delete_children: bool
    ordering_id: int


@dataclass(slots=True)
class DeleteItemsOlderThan:
    ordering_id: int


@dataclass(slots=True)
class ItemBatch:
    file_id: str
    ordering_id: int


@dataclass(slots=True)
class IdentityChange:
    provider: str
    kind: str  # "identity", "mapping" or "delete"
    body: IdentityBody
    ordering_id: int


@dataclass(slots=True)
class DisableIdentitiesOlderThan:
    provider: str
    ordering_id: int


@dataclass(slots=True)
class IdentityBatch:
    provider: str
    file_id: str
    ordering_id: int


Operation = (
    UpsertItem
    | DeleteItem
    | DeleteItemsOlderThan
    | ItemBatch
    | IdentityChange
    | DisableIdentitiesOlderThan
    | IdentityBatch
)


class DecodeError(Exception):
    pass


def decompress(raw: bytes, compression: str, limit: int) -> int:
    """Size of the item data once decompressed (raises DecodeError when it is not what it claims)."""
    if compression == "UNCOMPRESSED":
        return len(raw)
    if compression == "DEFLATE":  # raw deflate, or deflate in a zlib wrapper
        try:
            return decompress(raw, "RAW_DEFLATE", limit)
        except DecodeError:
            try:
                return decompress(raw, "ZLIB", limit)
            except DecodeError:
                raise DecodeError("the data is not valid DEFLATE") from None
    try:
        if compression == "LZMA":
            out = lzma.LZMADecompressor().decompress(raw, max_length=limit + 1)
        else:
            d = zlib.decompressobj({"ZLIB": 15, "GZIP": 31, "RAW_DEFLATE": -15}[compression])
            out = d.decompress(raw, limit + 1)
            if not d.eof and len(out) <= limit:
                raise DecodeError(f"truncated {compression} stream")
    except (zlib.error, lzma.LZMAError) as exc:
        raise DecodeError(f"the data is not valid {compression} ({exc})") from None
    if len(out) > limit:
        raise DecodeError(f"the decompressed data exceeds {limit} bytes")
    return len(out)


class Pipeline:
    def __init__(self, config: EmulatorConfig, state: EmulatorState) -> None:
        self.config = config
        self.state = state
        self.delay_ms = round(config.processing_delay_s * 1000)
        self._queue: list[tuple[int, int, Operation]] = []
        self._seq = 0

    # --- queue -------------------------------------------------------------------------------

    def enqueue(self, op: Operation, received_ms: int, extra_delay_ms: int = 0) -> None:
        heapq.heappush(self._queue, (received_ms + self.delay_ms + extra_delay_ms, self._seq, op))
        self._seq += 1

    @property
    def pending(self) -> int:
        return len(self._queue)

    def apply_due(self) -> None:
        queue = self._queue
        if not queue:
            return
        now = self.state.clock.now_ms()
        while queue and queue[0][0] <= now:
            due, _, op = heapq.heappop(queue)
            try:
                self._apply(op, due)
            except Exception as exc:  # an emulator bug must not wedge every later request
                _log.exception("applying %r failed", op)
                subject = op.doc.document_id if isinstance(op, UpsertItem) else getattr(op, "document_id", "")
                meta = {"error": f"emulator internal error: {exc!r}", "operation": type(op).__name__}
                self._log(due, subject, "UPDATE", "CONSUMING", "ERROR", meta)

    def _apply(self, op: Operation, at: int) -> None:
        if isinstance(op, UpsertItem):
            self._upsert(op.doc, op.ordering_id, at)
        elif isinstance(op, DeleteItem):
            self._delete(
                op.document_id,
                op.delete_children,
                op.ordering_id,
                at,
                "DELETE_AND_CHILDREN" if op.delete_children else "DELETE",
            )
        elif isinstance(op, DeleteItemsOlderThan):
            self._delete_older_than(op.ordering_id, at)
        elif isinstance(op, ItemBatch):
            self._item_batch(op.file_id, op.ordering_id, at)
        elif isinstance(op, IdentityChange):
            self._identity(op.provider, op.kind, op.body, op.ordering_id, at)
        elif isinstance(op, DisableIdentitiesOlderThan):
            self._disable_older_than(op.provider, op.ordering_id, at)
        else:
            self._identity_batch(op.provider, op.file_id, op.ordering_id, at)

    # --- items ---------------------------------------------------------------------------------

    def _log(
        self,
        at: int,
        document_id: str,
        operation: str,
        task: str,
        result: str,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.state.logs.append(at, document_id, operation, task, result, self.config.source_id, meta)

    def _stale_reason(self, item: Item | None, ordering_id: int) -> str | None:
        if item is None:
            return None
        last = item.ordering_id
        if ordering_id < last or (self.config.skip_equal_ordering_id and ordering_id == last):
            return f"orderingId {ordering_id} is lower than the item's last orderingId {last}"
        return None

    def _upsert(self, doc: ParsedDocument, ordering_id: int, at: int) -> None:
        index = self.state.index
        did = doc.document_id
        existing = index.get(did)
        operation = "UPDATE" if existing is not None and existing.indexed else "ADD"
        stale = self._stale_reason(existing, ordering_id)
        if stale is not None:
            self._log(
                at, did, operation, "CONSUMING", "SKIPPED", {"reason": stale, "orderingId": ordering_id}
            )
            return
        if ordering_id < index.older_than_watermark:
            self._log(
                at,
                did,
                operation,
                "CONSUMING",
                "REJECTED",
                {
                    "error": f"orderingId {ordering_id} is lower than the orderingId {index.older_than_watermark} "
                    "of a previous 'delete older than' on this source"
                },
            )
            return
        self._log(at, did, operation, "CONSUMING", "COMPLETED")
        try:
            size = self._content_size(doc, at)
        except DecodeError as exc:
            self._log(at, did, operation, "PROCESSING", "REJECTED", {"error": str(exc)})
            return
        limit = self.config.max_permissions_per_item
        if doc.permission_count > limit:
            self._log(
                at,
                did,
                operation,
                "PROCESSING",
                "REJECTED",
                {
                    "error": f"the item has {doc.permission_count} permissions; an item can contain at most {limit}"
                },
            )
            return
        if doc.warnings:
            self._log(at, did, operation, "PROCESSING", "WARNING", {"warning": "; ".join(doc.warnings)})
        else:
            self._log(at, did, operation, "PROCESSING", "COMPLETED")
        self._log(at, did, operation, "MAPPING", "COMPLETED")
        unknown = self._unknown_identities(doc)
        if unknown:
            described = "; ".join(
                f"{p.identity_type} '{p.identity}' in provider '{p.provider}'" for p in unknown[:10]
            )
            self._log(
                at,
                did,
                operation,
                "INDEXING",
                "REJECTED",
                {
                    "error": f"unknown security identity: {described}",
                    "unknownIdentities": [
                        {
                            "identity": p.identity,
                            "identityType": p.identity_type,
                            "securityProvider": p.provider,
                        }
                        for p in unknown
                    ],
                },
            )
            return
        index.put(
            Item(
                document_id=did,
                ordering_id=ordering_id,
                indexed=True,
                last_operation=operation,
                updated_ms=at,
                metadata=doc.metadata,
                permissions=doc.permissions,
                parent_id=doc.parent_id,
                file_extension=doc.file_extension,
                data_size=size,
                permissions_updated_ms=at + round(self.config.security_refresh_delay_s * 1000),
            )
        )
        self._log(at, did, operation, "INDEXING", "COMPLETED", {"orderingId": ordering_id})

    def _unknown_identities(self, doc: ParsedDocument) -> list[wire.PermissionIdentity]:
        cache = self.state.cache
        unknown: dict[wire.PermissionIdentity, None] = {}  # ordered and de-duplicated
        for _, _, p in all_entries(doc.permissions):
            if (
                p not in unknown
                and not p.is_pattern
                and not cache.resolve(p.provider, p.identity_type, p.identity)
            ):
                unknown[p] = None
        return list(unknown)

    def _content_size(self, doc: ParsedDocument, at: int) -> int:
        if doc.data_value is None:
            return 0
        limit = self.config.max_container_bytes
        if doc.data_kind == "data":
            return len(doc.data_value.encode())
        compression = doc.compression_type or "ZLIB"  # DOC-164: the default is ZLIB
        if doc.data_kind == "compressedbinarydata":
            try:
                raw = base64.b64decode(doc.data_value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DecodeError(f"compressedBinaryData is not valid Base64 ({exc})") from None
            return decompress(raw, compression, limit)
        container, error = self._take_container(doc.data_value, at)
        if container is None:
            raise DecodeError(str(error))
        try:
            return decompress(container.content or b"", compression, limit)
        finally:
            container.content = None  # forwarded: the container is gone

    def _take_container(self, file_id: str, at: int) -> tuple[Container | None, str | None]:
        """A file container is read once; it is deleted after being forwarded (SPEC-PUSH)."""
        container = self.state.containers.get(file_id)
        if container is None:
            return None, f"file container '{file_id}' does not exist"
        if container.consumed:
            return None, f"file container '{file_id}' was already consumed"
        if at > container.expires_ms:
            return None, f"file container '{file_id}' expired (containers live 60 minutes)"
        if container.content is None:
            return None, f"file container '{file_id}' is empty: nothing was uploaded to its uploadUri"
        if container.oversize or container.size > self.config.max_container_bytes:
            return None, f"file container '{file_id}' holds more than {self.config.max_container_bytes} bytes"
        container.consumed = True
        return container, None

    def _delete(
        self, did: str, children: bool, ordering_id: int, at: int, operation: str, parent: str | None = None
    ) -> None:
        index = self.state.index
        existing = index.get(did)
        stale = self._stale_reason(existing, ordering_id)
        base: dict[str, Any] = {"parentId": parent} if parent else {}
        if stale is not None:
            self._log(
                at,
                did,
                operation,
                "CONSUMING",
                "SKIPPED",
                {**base, "reason": stale, "orderingId": ordering_id},
            )
            return
        self._log(at, did, operation, "CONSUMING", "COMPLETED", base or None)
        child_ids = index.children(did) if children else []
        was_indexed = existing is not None and existing.indexed
        index.put(
            Item(
                document_id=did,
                ordering_id=ordering_id,
                indexed=False,
                last_operation=operation,
                updated_ms=at,
            )
        )
        meta = {**base, "orderingId": ordering_id}
        if not was_indexed:
            meta["note"] = "the item was not in the index"
        self._log(at, did, operation, "INDEXING", "COMPLETED", meta)
        for child in child_ids:
            self._delete(child, True, ordering_id, at, "DELETE", parent=did)

    def _delete_older_than(self, ordering_id: int, at: int) -> None:
        index = self.state.index
        victims = [i.document_id for i in index.indexed() if i.ordering_id < ordering_id]
        index.older_than_watermark = max(index.older_than_watermark, ordering_id)
        self._log(
            at,
            "",
            "DELETE_OLDER_THAN",
            "CONSUMING",
            "COMPLETED",
            {"orderingId": ordering_id, "deleted": len(victims)},
        )
        for did in victims:
            index.put(
                Item(
                    document_id=did,
                    ordering_id=ordering_id,
                    indexed=False,
                    last_operation="DELETE_OLDER_THAN",
                    updated_ms=at,
                )
            )
            self._log(at, did, "DELETE_OLDER_THAN", "INDEXING", "COMPLETED", {"orderingId": ordering_id})

    def _read_batch_file(self, file_id: str, at: int) -> tuple[dict[str, Any] | None, str | None]:
        container, error = self._take_container(file_id, at)
        if container is None:
            return None, error
        try:
            body = wire.loads(container.content or b"")
            if not isinstance(body, dict):
                raise WireError("the batch file must hold a JSON object")
            folded = wire.fold(body, "the batch file")
        except WireError as exc:
            return None, f"invalid batch file: {exc.message}"
        finally:
            container.content = None  # forwarded: free the memory, keep the record
        return folded, None

    def _item_batch(self, file_id: str, ordering_id: int, at: int) -> None:
        body, error = self._read_batch_file(file_id, at)
        adds = body.get("addorupdate") if body is not None else None
        deletes = body.get("delete") if body is not None else None
        if body is not None and error is None:
            if adds is None and deletes is None:
                error = "invalid batch file: it has neither 'addOrUpdate' nor 'delete'"
            elif not isinstance(adds or [], list) or not isinstance(deletes or [], list):
                error = "invalid batch file: 'addOrUpdate' and 'delete' must be arrays"
        if error is not None or body is None:
            self._log(
                at, file_id, "BATCH_FILE", "CONSUMING_BATCH", "ERROR", {"error": error, "fileId": file_id}
            )
            return
        adds = adds or []
        deletes = deletes or []
        self._log(
            at,
            file_id,
            "BATCH_FILE",
            "CONSUMING_BATCH",
            "COMPLETED",
            {"fileId": file_id, "addOrUpdate": len(adds), "delete": len(deletes), "orderingId": ordering_id},
        )
        for position, raw in enumerate(adds):
            try:
                doc = wire.parse_document(
                    raw,
                    default_provider=self.config.provider_id,
                    max_inline_bytes=self.config.max_inline_data_bytes,
                )
            except WireError as exc:
                self._reject_batch_element(raw, f"addOrUpdate[{position}]", file_id, exc.message, at)
                continue
            self._upsert(doc, ordering_id, at)
        for position, raw in enumerate(deletes):
            try:
                did, children = _parse_batch_delete(raw)
            except WireError as exc:
                self._reject_batch_element(raw, f"delete[{position}]", file_id, exc.message, at, "DELETE")
                continue
            self._delete(did, children, ordering_id, at, "DELETE_AND_CHILDREN" if children else "DELETE")

    def _reject_batch_element(
        self, raw: object, position: str, file_id: str, reason: str, at: int, operation: str | None = None
    ) -> None:
        did = ""
        if isinstance(raw, dict):
            for key, value in raw.items():
                if key.lower() == "documentid" and isinstance(value, str):
                    did = value
        if operation is None:
            existing = self.state.index.get(did)
            operation = "UPDATE" if existing is not None and existing.indexed else "ADD"
        self._log(
            at,
            did,
            operation,
            "CONSUMING",
            "REJECTED",
            {"error": reason, "fileId": file_id, "position": position},
        )

    # --- identities ----------------------------------------------------------------------------

    def _identity_log(
        self, at: int, provider: str, operation: str, identity: str, result: str, reason: str | None = None
    ) -> None:
        self.state.identity_log.append(IdentityLogEntry(at, provider, operation, identity, result, reason))

    def _identity(self, provider: str, kind: str, body: IdentityBody, ordering_id: int, at: int) -> None:
        cache = self.state.cache
        ident = body.identity
        key: EntityKey = (provider, ident.type, ident.name)
        label = f"{ident.type} {ident.name}"
        operation = {"identity": "UPDATE", "mapping": "ALIAS", "delete": "DISABLE"}[kind]
        existing = cache.get(key)
        if existing is not None and existing.ordering_id is not None:
            last = existing.ordering_id
            if ordering_id < last or (self.config.skip_equal_ordering_id and ordering_id == last):
                reason = f"orderingId {ordering_id} is lower than the identity's last orderingId {last}"
                self._identity_log(at, provider, operation, label, "SKIPPED", reason)
                return
        if kind == "delete":
            if existing is None:
                self._identity_log(
                    at, provider, operation, label, "SKIPPED", "the identity is not in the security cache"
                )
                return
            existing.state = "DISABLED"
            existing.ordering_id = ordering_id
            existing.last_update_ms = at
            self._identity_log(at, provider, operation, label, "COMPLETED")
            return
        entity = cache.ensure(key, "pushed", "NOT_UPDATED", at, ordering_id)
        entity.origin = "pushed"
        entity.additional_info = dict(ident.additional_info)
        failure: tuple[str, str] | None = None
        if body.result is not None and body.result != "SUCCESS":
            failure = (body.result, body.error_details or f"the pusher reported {body.result}")
        targets: list[EntityKey] = []
        if failure is None and kind == "mapping":
            cascading = self.config.cascading_providers
            for m in body.mappings or []:
                target = m.provider or (cascading[0] if len(cascading) == 1 else None)
                if target is None:
                    failure = ("ENTITY_IS_INVALID", f"alias {m.name!r} must name its 'provider'")
                    break
                if target not in cascading:
                    failure = (
                        "ENTITY_IS_INVALID",
                        f"alias target provider '{target}' is not a provider '{provider}' cascades to "
                        f"(it cascades to: {', '.join(cascading) or 'none'})",
                    )
                    break
                targets.append((target, m.type, m.name))
        if failure is not None:
            entity.state = "OUT_OF_DATE" if entity.last_success_ms is not None else "IN_ERROR"
            entity.last_update_result, entity.last_error = failure
            entity.last_update_ms = at
            entity.ordering_id = ordering_id
            self._identity_log(at, provider, operation, label, "ERROR", failure[1])
            return
        if kind == "mapping":
            for target_key in targets:
                alias = cache.ensure(target_key, "alias", "UP_TO_DATE", at, None)
                if not alias.enabled:
                    alias.state = "UP_TO_DATE"
            cache.set_mappings(key, targets)
        else:
            members: list[EntityKey] = [(provider, m.type, m.name) for m in body.members or []]
            for member in members:
                # a reference is not an update of that identity: no orderingId of its own
                cache.ensure(
                    member, "member", "UP_TO_DATE" if member[1] == "USER" else "NOT_UPDATED", at, None
                )
            cache.set_members(key, members)  # a group push replaces its members (DOC-55)
        if body.well_knowns is not None or kind == "identity":
            granted: list[EntityKey] = [(provider, w.type, w.name) for w in body.well_knowns or []]
            for group in granted:
                cache.ensure(group, "wellKnown", "UP_TO_DATE", at, None)
            cache.set_well_knowns(key, granted)
        entity.state = "UP_TO_DATE"
        entity.last_update_result = "SUCCESS"
        entity.last_error = None
        entity.last_update_ms = at
        entity.last_success_ms = at
        entity.ordering_id = ordering_id
        self._identity_log(at, provider, operation, label, "COMPLETED")

    def _disable_older_than(self, provider: str, ordering_id: int, at: int) -> None:
        disabled = 0
        for entity in self.state.cache.entities.values():
            if (
                entity.provider == provider
                and entity.enabled
                and entity.ordering_id is not None
                and entity.ordering_id < ordering_id
            ):
                entity.state = "DISABLED"
                entity.last_update_ms = at
                disabled += 1
        self._identity_log(
            at,
            provider,
            "DISABLE_OLDER_THAN",
            f"orderingId < {ordering_id}",
            "COMPLETED",
            f"{disabled} disabled",
        )

    def _identity_batch(self, provider: str, file_id: str, ordering_id: int, at: int) -> None:
        body, error = self._read_batch_file(file_id, at)
        sections = [("members", "identity"), ("mappings", "mapping"), ("deleted", "delete")]
        if body is not None and error is None and not any(name in body for name, _ in sections):
            error = "invalid batch file: it has none of 'members', 'mappings', 'deleted'"
        if body is None or error is not None:
            self._identity_log(at, provider, "BATCH", file_id, "ERROR", error)
            return
        self._identity_log(at, provider, "BATCH", file_id, "COMPLETED")
        for name, kind in sections:
            elements = body.get(name) or []
            if not isinstance(elements, list):
                self._identity_log(at, provider, "BATCH", file_id, "REJECTED", f"'{name}' must be an array")
                continue
            for position, raw in enumerate(elements):
                try:
                    parsed = wire.parse_identity_body(raw, kind, where=f"{name}[{position}]")
                except WireError as exc:
                    self._identity_log(
                        at, provider, "BATCH", f"{file_id} {name}[{position}]", "REJECTED", exc.message
                    )
                    continue
                self._identity(provider, kind, parsed, ordering_id, at)


def _parse_batch_delete(raw: object) -> tuple[str, bool]:
    if not isinstance(raw, dict):
        raise WireError("a delete element must be an object {documentId, deleteChildren}")
    f = wire.fold(raw, "delete element")
    did = f.get("documentid")
    if not isinstance(did, str) or not did:
        raise WireError("the delete element has no 'documentId'")
    children = f.get("deletechildren", False)
    if not isinstance(children, bool):
        raise WireError("'deleteChildren' must be a boolean")
    return did, children
