"""An httpx client for Coveo's Push, Logs, index-permission and security-cache APIs.

What it does that Coveo's own Python client does not: retries 429 (honouring `Retry-After`), 5xx,
dropped connections and timeouts, POST included, within a deadline the caller sets; raises typed
errors instead of handing back raw responses; supports regions; routes items too large for a single
call through file containers; splits batches over the container limit; and never defaults an item to
public.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx

from .auth import ApiKeySource, ApiKeyUnavailableError, StaticApiKey
from .batching import framing_overhead, pack_sections
from .endpoints import Endpoints, Region
from .errors import (
    CoveoError,
    CoveoHTTPError,
    CoveoThrottledError,
    CoveoTransportError,
    DeadlineExceededError,
    FileContainerUploadError,
    ItemTooLargeError,
    error_for_status,
)
from .models import (
    BaseIdentityBody,
    BatchDelete,
    CompressionType,
    DocumentIdMatching,
    DocumentPermissionModel,
    EffectivePermissionsPage,
    FileContainer,
    IdentityBody,
    IdentityType,
    ItemBody,
    LogEntry,
    LogsRequest,
    LogsResponse,
    MappedIdentityBody,
    SecurityCacheEntity,
    SecurityCacheEntityRequest,
    SecurityCacheMembersPage,
    SinglePermission,
    SourceStatus,
)
from .retry import Deadline, RetryPolicy, parse_retry_after
from .version import USER_AGENT

MB = 1024 * 1024
LOGS_MAX_WINDOW = timedelta(days=7)
# orderingIds a little ahead of our clock are tolerated (clock skew); far-future ones poison a source.
FUTURE_ORDERING_TOLERANCE_MS = 60_000

# The name of the thread that creates a prefetched container (a benchmark tells its requests apart).
PREFETCH_THREAD_NAME = "coveo-container"

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# A file container expires 60 minutes after it is created (Push API reference, "file container");
# one prefetched longer ago than this is not used, so its upload cannot meet the expiry.
PREFETCHED_CONTAINER_MAX_AGE_S = 15 * 60


@dataclass(frozen=True)
class PushLimits:
    """Coveo's documented limits; tests lower them to exercise splitting."""

    max_request_bytes: int = 6 * MB
    max_inline_data_bytes: int = 5 * MB
    max_container_bytes: int = 256 * MB


@dataclass(frozen=True)
class BatchReceipt:
    """One file container Coveo accepted (202): what it held."""

    file_id: str
    size_bytes: int
    counts: Mapping[str, int]


@lru_cache(maxsize=1)
def shared_http_client() -> httpx.Client:
    """One pooled connection pool per process (a Lambda container reuses it across invocations)."""
    return httpx.Client(
        timeout=DEFAULT_TIMEOUT,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        follow_redirects=False,
    )


# Every security cache state but DISABLED (the states `getEntities` filters on).
_ENABLED_STATES = ("UNKNOWN", "UP_TO_DATE", "NOT_UPDATED", "OUT_OF_DATE", "IN_ERROR")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _encode_path_segment(value: str, times: int = 1) -> str:
    for _ in range(times):
        value = quote(value, safe="")
    return value


_S3_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_S3_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)


class CoveoClient:
    """Synchronous client for one Coveo organization.

    Every call takes an optional `deadline` (see `Deadline`); without one, the policy's default budget
    applies. Transient failures are retried inside that time; anything else raises a `CoveoError`.

    `api_key` is the key itself, or an `ApiKeySource`: the key is then asked for on every request
    (a rotated key is used as soon as the source hands it out), and a 401 makes the client ask the
    source to `refresh()` once and, if that gives another key, send the request again with it.
    """

    def __init__(
        self,
        organization_id: str,
        api_key: str | ApiKeySource,
        *,
        region: Region | str = Region.US,
        base_url: str | None = None,
        http_client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        limits: PushLimits | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not organization_id:
            raise ValueError("organization_id is required")
        if not api_key:
            raise ValueError("api_key is required")
        self._key: ApiKeySource = StaticApiKey(api_key) if isinstance(api_key, str) else api_key
        self.organization_id = organization_id
        self.endpoints = Endpoints.from_base_url(base_url) if base_url else Endpoints.for_region(region)
        self.retry = retry or RetryPolicy()
        self.limits = limits or PushLimits()
        self._http = http_client or shared_http_client()
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        #: HTTP requests sent, retries, uploads and resends with a refreshed key included (what
        #: Coveo and S3 saw).
        self.requests_sent = 0
        self._lock = threading.Lock()
        # A file container being created ahead of the push that fills it, and when it was asked for.
        self._prefetched: tuple[Future[FileContainer], float] | None = None
        self._prefetcher: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:  # never show the key
        return f"CoveoClient(organization_id={self.organization_id!r}, push={self.endpoints.push!r})"

    @property
    def _auth(self) -> dict[str, str]:
        """The Authorization header a request sent now would carry (tests call Coveo with it)."""
        return {"Authorization": f"Bearer {self._api_key(self._key.current)}"}

    @staticmethod
    def _api_key(read: Callable[[], str]) -> str:
        """A key from the source; a source that cannot give one raises `ApiKeyUnavailableError`."""
        try:
            key = read()
        except CoveoError:
            raise
        except Exception as exc:
            # The type and message only (a source never puts the key in them); no request was sent.
            raise ApiKeyUnavailableError(
                f"could not read the API key: {type(exc).__name__}: {str(exc)[:200]}"
            ) from exc
        if not key:
            raise ApiKeyUnavailableError("could not read the API key: the key source gave an empty key")
        return key

    # --- URLs ---------------------------------------------------------------------------------------

    def _push(self, path: str) -> str:
        return f"{self.endpoints.push}/organizations/{quote(self.organization_id, safe='')}{path}"

    def _platform(self, path: str) -> str:
        return f"{self.endpoints.platform}/organizations/{quote(self.organization_id, safe='')}{path}"

    def _source(self, source_id: str, path: str = "") -> str:
        return self._push(f"/sources/{quote(source_id, safe='')}{path}")

    def _provider(self, provider_id: str, path: str = "") -> str:
        return self._push(f"/providers/{quote(provider_id, safe='')}{path}")

    # --- the request loop ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        deadline: Deadline | None,
        error_type: type[CoveoHTTPError] | None = None,
    ) -> httpx.Response:
        deadline = deadline or Deadline.in_seconds(self.retry.default_budget_s, self._clock)
        send_headers: dict[str, str] = {}
        if authenticated:
            send_headers["Accept"] = "application/json"
            send_headers["Content-Type"] = "application/json"
        if headers:
            send_headers.update(headers)
        # No `params` at all when there are none: an empty mapping would strip a presigned URL's query.
        query = {k: _query_value(v) for k, v in params.items()} if params else None
        attempt = 0
        key: str | None = None
        refreshed_key: str | None = None  # set by a 401's refresh: the next send uses it
        refreshed = False  # one refresh per request: a key Coveo refuses twice is refused
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise DeadlineExceededError(f"deadline reached before {method} could be sent")
            if authenticated:
                key = refreshed_key or self._api_key(self._key.current)
                refreshed_key = None
                send_headers["Authorization"] = f"Bearer {key}"
            timeout = _capped(self._timeout, remaining)
            error: CoveoError
            with self._lock:
                self.requests_sent += 1
            try:
                response = self._http.request(
                    method, url, params=query, content=body, headers=send_headers, timeout=timeout
                )
            except httpx.TimeoutException as exc:
                error = CoveoTransportError(
                    f"timed out ({type(exc).__name__})", method=method, path=httpx.URL(url).path
                )
            except httpx.TransportError as exc:
                error = CoveoTransportError(
                    f"connection failed ({type(exc).__name__})", method=method, path=httpx.URL(url).path
                )
            else:
                if response.status_code < 400:
                    return response
                error = _error_from(response, error_type)
                # 401: the key is not (or no longer) valid; it may have been rotated since the source
                # read it. Not 403: a key without the privilege does not gain it by being read again.
                if authenticated and response.status_code == 401 and not refreshed:
                    refreshed = True
                    try:
                        new_key = self._api_key(self._key.refresh)
                    except ApiKeyUnavailableError as exc:
                        raise error from exc  # the 401 is what the caller must act on
                    if new_key != key:
                        # Another key: send again at once (no retry attempt used, no sleep).
                        refreshed_key = new_key
                        continue
            if not error.retryable or error.status not in (None, *self.retry.retryable_statuses):
                raise error
            attempt += 1
            if attempt >= self.retry.max_attempts:
                raise error
            retry_after = error.retry_after if isinstance(error, CoveoThrottledError) else None
            delay = self.retry.delay(attempt - 1, retry_after, self._rng)
            if delay >= deadline.remaining():
                raise DeadlineExceededError(
                    f"gave up after {attempt} attempt(s): the next retry (in {delay:.2f}s) would pass "
                    f"the deadline; last error: {error}",
                    last_error=error,
                )
            self._sleep(delay)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise CoveoHTTPError(
                "Coveo answered with a body that is not JSON",
                status=response.status_code,
                method=response.request.method,
                path=response.request.url.path,
            ) from None

    # --- items --------------------------------------------------------------------------------------

    def push_item(
        self,
        source_id: str,
        document_id: str,
        item: ItemBody,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Add or update one item (`PUT .../documents?documentId=`).

        Inline data over 5 MB, or a body over 6 MB, is moved into a file container first and sent as
        `compressedBinaryDataFileId`, as Coveo documents for large items.
        """
        self._check_ordering_id(ordering_id)
        if item.document_id is not None and item.document_id != document_id:
            raise ValueError(
                f"the body's documentId {item.document_id!r} differs from the documentId {document_id!r}"
            )
        item = item.model_copy(update={"document_id": document_id})
        body = item.to_wire_json()
        if (
            item.inline_data_size() > self.limits.max_inline_data_bytes
            or len(body) > self.limits.max_request_bytes
        ):
            item = self._externalize_content(item, deadline)
            body = item.to_wire_json()
            if len(body) > self.limits.max_request_bytes:
                raise ItemTooLargeError(
                    f"item {document_id!r}: {len(body)} bytes of metadata and permissions exceed the "
                    f"{self.limits.max_request_bytes}-byte request limit even without its content"
                )
        wire = item.to_wire()
        params: dict[str, str | int | bool] = {"documentId": document_id}
        # On a single push, compressionType is a query parameter, not a body key.
        compression = wire.pop("compressionType", None)
        if compression is not None:
            params["compressionType"] = compression
            body = _dumps(wire)
        if ordering_id is not None:
            params["orderingId"] = ordering_id
        self._request(
            "PUT", self._source(source_id, "/documents"), params=params, body=body, deadline=deadline
        )

    def delete_item(
        self,
        source_id: str,
        document_id: str,
        *,
        delete_children: bool = False,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Delete one item; `delete_children` also deletes the items whose `parentId` is this one."""
        self._check_ordering_id(ordering_id)
        params: dict[str, str | int | bool] = {"documentId": document_id, "deleteChildren": delete_children}
        if ordering_id is not None:
            params["orderingId"] = ordering_id
        self._request("DELETE", self._source(source_id, "/documents"), params=params, deadline=deadline)

    def delete_items_older_than(
        self,
        source_id: str,
        ordering_id: int,
        *,
        queue_delay_minutes: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Delete every item last updated with an orderingId strictly lower than `ordering_id`."""
        self._check_ordering_id(ordering_id)
        params: dict[str, str | int | bool] = {"orderingId": ordering_id}
        if queue_delay_minutes is not None:
            if queue_delay_minutes < 0:
                raise ValueError("queue_delay_minutes must be >= 0")
            params["queueDelay"] = queue_delay_minutes
        self._request(
            "DELETE", self._source(source_id, "/documents/olderthan"), params=params, deadline=deadline
        )

    def push_items(
        self,
        source_id: str,
        add_or_update: Iterable[ItemBody] = (),
        delete: Iterable[BatchDelete] = (),
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> list[BatchReceipt]:
        """Push any number of item operations through as few file containers as the limit allows.

        Everything is checked and serialized before the first request, so an item that cannot be sent
        fails the call before anything is pushed.
        """
        self._check_ordering_id(ordering_id)
        items = list(add_or_update)
        for index, item in enumerate(items):
            if not item.document_id:
                raise ValueError(f"add_or_update[{index}] has no documentId; every batch item needs one")
            if item.inline_data_size() > self.limits.max_inline_data_bytes:
                items[index] = self._externalize_content(item, deadline)
        sections = [
            ("addOrUpdate", [item.to_wire_json() for item in items]),
            ("delete", [op.to_wire_json() for op in delete]),
        ]
        return self._push_containers(
            sections,
            lambda file_id: self._request(
                "PUT",
                self._source(source_id, "/documents/batch"),
                params=_batch_params(file_id, ordering_id),
                deadline=deadline,
            ),
            deadline,
        )

    def push_item_batch_file(
        self,
        source_id: str,
        file_id: str,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """`PUT .../documents/batch?fileId=` for a container the caller filled."""
        self._check_ordering_id(ordering_id)
        self._request(
            "PUT",
            self._source(source_id, "/documents/batch"),
            params=_batch_params(file_id, ordering_id),
            deadline=deadline,
        )

    def set_source_status(
        self, source_id: str, status: SourceStatus | str, *, deadline: Deadline | None = None
    ) -> None:
        self._request(
            "POST",
            self._source(source_id, "/status"),
            params={"statusType": SourceStatus(status).value},
            deadline=deadline,
        )

    # --- file containers ----------------------------------------------------------------------------

    def create_file_container(
        self, *, use_virtual_hosted_style_url: bool | None = None, deadline: Deadline | None = None
    ) -> FileContainer:
        params: dict[str, str | int | bool] = {}
        if use_virtual_hosted_style_url is not None:
            params["useVirtualHostedStyleUrl"] = use_virtual_hosted_style_url
        response = self._request("POST", self._push("/files"), params=params, deadline=deadline)
        return FileContainer.model_validate(self._json(response))

    def upload_to_file_container(
        self, container: FileContainer, content: bytes, *, deadline: Deadline | None = None
    ) -> None:
        """PUT the bytes to the presigned `uploadUri` with exactly its `requiredHeaders` (and no key)."""
        if len(content) > self.limits.max_container_bytes:
            raise ItemTooLargeError(
                f"{len(content)} bytes exceed the {self.limits.max_container_bytes}-byte file container limit"
            )
        self._request(
            "PUT",
            container.upload_uri,
            body=content,
            headers=container.required_headers,
            authenticated=False,
            deadline=deadline,
            error_type=FileContainerUploadError,
        )

    def prefetch_file_container(self, *, deadline: Deadline | None = None) -> None:
        """Start creating a file container now, in the background, for the next batch push to fill:
        its round trip then overlaps what the caller does meanwhile (the connector: its ledger
        claims) instead of lengthening the push. At most one waits; asking again keeps it."""
        with self._lock:
            if self._prefetched is not None:
                return
            if self._prefetcher is None:
                self._prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix=PREFETCH_THREAD_NAME)
            future = self._prefetcher.submit(self.create_file_container, deadline=deadline)
            self._prefetched = (future, self._clock())

    def _take_prefetched(self, deadline: Deadline | None) -> FileContainer | None:
        """The container `prefetch_file_container` asked for, if it came in time and is fresh; else
        None, and the push creates its own (meeting any error of Coveo's itself)."""
        with self._lock:
            taken, self._prefetched = self._prefetched, None
        if taken is None:
            return None
        future, asked_at = taken
        if self._clock() - asked_at > PREFETCHED_CONTAINER_MAX_AGE_S:
            return None  # its upload URI may have expired: a new one costs the same round trip
        try:
            return future.result(timeout=None if deadline is None else max(0.0, deadline.remaining()))
        except Exception:  # failed or late: the push's own attempt decides
            return None

    def _upload(self, content: bytes, deadline: Deadline | None) -> str:
        """Create a container (or take the one prefetched) and fill it; a refused upload (403:
        expired or used) gets one new container."""
        for attempt in range(2):
            container = (
                self._take_prefetched(deadline) if attempt == 0 else None
            ) or self.create_file_container(deadline=deadline)
            try:
                self.upload_to_file_container(container, content, deadline=deadline)
            except FileContainerUploadError as exc:
                if exc.status == 403 and attempt == 0:
                    continue
                raise
            return container.file_id
        raise AssertionError("unreachable")  # pragma: no cover

    def _push_containers(
        self,
        sections: list[tuple[str, list[bytes]]],
        push: Callable[[str], object],
        deadline: Deadline | None,
    ) -> list[BatchReceipt]:
        limit = self.limits.max_container_bytes
        room = limit - framing_overhead([name for name, _ in sections])
        for name, elements in sections:
            for index, element in enumerate(elements):
                if len(element) > room:
                    raise ItemTooLargeError(
                        f"{name}[{index}] is {len(element)} bytes; a file container holds at most {limit}"
                    )
        receipts = []
        for chunk in pack_sections(sections, limit):
            file_id = self._upload(chunk.body, deadline)
            push(file_id)
            receipts.append(BatchReceipt(file_id=file_id, size_bytes=len(chunk.body), counts=chunk.counts))
        return receipts

    def _externalize_content(self, item: ItemBody, deadline: Deadline | None) -> ItemBody:
        """Move inline content into a file container; the item then refers to it by fileId."""
        if item.data is not None:
            content, compression = item.data.encode(), CompressionType.UNCOMPRESSED
        elif item.compressed_binary_data is not None:
            content = base64.b64decode(item.compressed_binary_data)
            # Coveo's documented default for compressed binary data is ZLIB.
            compression = item.compression_type or CompressionType.ZLIB
        else:
            raise ItemTooLargeError(
                f"item {item.document_id!r} is over the request limit and has no inline content to move"
            )
        file_id = self._upload(content, deadline)
        return item.model_copy(
            update={
                "data": None,
                "compressed_binary_data": None,
                "compressed_binary_data_file_id": file_id,
                "compression_type": compression,
            }
        )

    # --- security identities ------------------------------------------------------------------------

    def push_identity(
        self,
        provider_id: str,
        body: IdentityBody,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Add or update one identity. A group push replaces the group's members."""
        self._identity_call("PUT", provider_id, "/permissions", body.to_wire_json(), ordering_id, deadline)

    def push_alias(
        self,
        provider_id: str,
        body: MappedIdentityBody,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Add or update an identity's aliases (`PUT .../mappings`)."""
        self._identity_call("PUT", provider_id, "/mappings", body.to_wire_json(), ordering_id, deadline)

    def delete_identity(
        self,
        provider_id: str,
        body: BaseIdentityBody,
        *,
        ordering_id: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Disable one identity (`DELETE .../permissions` with a JSON body)."""
        self._identity_call("DELETE", provider_id, "/permissions", body.to_wire_json(), ordering_id, deadline)

    def delete_identities_older_than(
        self,
        provider_id: str,
        ordering_id: int,
        *,
        queue_delay_minutes: int | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Disable every identity of the provider last updated with an orderingId strictly lower
        than `ordering_id`."""
        self._check_ordering_id(ordering_id)
        params: dict[str, str | int | bool] = {"orderingId": ordering_id}
        if queue_delay_minutes is not None:
            if queue_delay_minutes < 0:  # SPEC-PUSH deleteIdentityOlderThan: minimum 0
                raise ValueError("queue_delay_minutes must be >= 0")
            params["queueDelay"] = queue_delay_minutes
        self._request(
            "DELETE", self._provider(provider_id, "/permissions/olderthan"), params=params, deadline=deadline
        )

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
        """Push identities, aliases and deletions as identity batches (`{members, mappings, deleted}`)."""
        self._check_ordering_id(ordering_id)
        sections = [
            ("members", [body.to_wire_json() for body in members]),
            ("mappings", [body.to_wire_json() for body in mappings]),
            ("deleted", [body.to_wire_json() for body in deleted]),
        ]
        return self._push_containers(
            sections,
            lambda file_id: self._request(
                "PUT",
                self._provider(provider_id, "/permissions/batch"),
                params=_batch_params(file_id, ordering_id),
                deadline=deadline,
            ),
            deadline,
        )

    def _identity_call(
        self,
        method: str,
        provider_id: str,
        path: str,
        body: bytes,
        ordering_id: int | None,
        deadline: Deadline | None,
    ) -> None:
        self._check_ordering_id(ordering_id)
        if len(body) > self.limits.max_request_bytes:
            raise ItemTooLargeError(
                f"identity body of {len(body)} bytes exceeds the {self.limits.max_request_bytes}-byte "
                "request limit; push it in an identity batch"
            )
        params: dict[str, str | int | bool] = {}
        if ordering_id is not None:
            params["orderingId"] = ordering_id
        self._request(method, self._provider(provider_id, path), params=params, body=body, deadline=deadline)

    # --- Logs API -----------------------------------------------------------------------------------

    def get_logs(
        self,
        request: LogsRequest,
        *,
        start: datetime,
        end: datetime,
        document_id: str | None = None,
        matching: DocumentIdMatching | None = None,
        page: int = 0,
        per_page: int = 100,
        deadline: Deadline | None = None,
    ) -> LogsResponse:
        """One page of indexing-pipeline log entries in [start, end] (at most 7 days apart)."""
        if end < start:
            raise ValueError("end is before start")
        if end - start > LOGS_MAX_WINDOW:
            raise ValueError("the Logs API allows at most 7 days between start and end; use iter_logs")
        params: dict[str, str | int | bool] = {
            "from": _w3c(start),
            "to": _w3c(end),
            "page": page,
            "perPage": per_page,
        }
        if document_id is not None:
            params["documentId"] = document_id
            if matching is not None:
                params["documentIdMatching"] = DocumentIdMatching(matching).value
        url = f"{self.endpoints.logs}/organizations/{quote(self.organization_id, safe='')}"
        response = self._request("POST", url, params=params, body=request.to_wire_json(), deadline=deadline)
        return LogsResponse.model_validate(self._json(response))

    def iter_logs(
        self,
        request: LogsRequest,
        *,
        start: datetime,
        end: datetime,
        document_id: str | None = None,
        matching: DocumentIdMatching | None = None,
        per_page: int = 100,
        deadline: Deadline | None = None,
    ) -> Iterator[LogEntry]:
        """Every entry in [start, end], following `hasNextPage`, in 7-day windows if longer."""
        window_start = start
        while window_start < end or window_start == start:
            window_end = min(end, window_start + LOGS_MAX_WINDOW)
            page = 0
            while True:
                result = self.get_logs(
                    request,
                    start=window_start,
                    end=window_end,
                    document_id=document_id,
                    matching=matching,
                    page=page,
                    per_page=per_page,
                    deadline=deadline,
                )
                yield from result.document_log_entries
                if not result.has_next_page:
                    break
                page += 1
            if window_end >= end:
                return
            window_start = window_end

    # --- index permissions and security cache -------------------------------------------------------

    def list_indexes(self, *, deadline: Deadline | None = None) -> list[str]:
        response = self._request("GET", self._platform("/indexes"), deadline=deadline)
        payload = self._json(response)
        entries = payload.get("items", payload) if isinstance(payload, dict) else payload
        return [entry["id"] if isinstance(entry, dict) else str(entry) for entry in entries]

    def _document_url(self, index_id: str, document_id: str, suffix: str) -> str:
        # Coveo's platform client encodes the documentId twice in this path; so do we.
        encoded = _encode_path_segment(document_id, times=2)
        return self._platform(f"/indexes/{quote(index_id, safe='')}/documents/{encoded}{suffix}")

    def get_item_permissions(
        self, index_id: str, document_id: str, *, deadline: Deadline | None = None
    ) -> DocumentPermissionModel:
        response = self._request(
            "GET", self._document_url(index_id, document_id, "/permissions"), deadline=deadline
        )
        return DocumentPermissionModel.model_validate(self._json(response))

    def get_effective_permissions(
        self,
        index_id: str,
        document_id: str,
        *,
        page: int = 0,
        per_page: int = 100,
        deadline: Deadline | None = None,
    ) -> EffectivePermissionsPage:
        response = self._request(
            "GET",
            self._document_url(index_id, document_id, "/permissions/effective"),
            params={"page": page, "perPage": per_page},
            deadline=deadline,
        )
        return EffectivePermissionsPage.model_validate(self._json(response))

    def iter_effective_permissions(
        self, index_id: str, document_id: str, *, per_page: int = 100, deadline: Deadline | None = None
    ) -> Iterator[SinglePermission]:
        page = 0
        while True:
            result = self.get_effective_permissions(
                index_id, document_id, page=page, per_page=per_page, deadline=deadline
            )
            yield from result.items
            page += 1
            if page >= result.total_pages:
                return

    def get_security_cache_entity(
        self,
        provider_id: str,
        name: str,
        identity_type: IdentityType | str,
        *,
        deadline: Deadline | None = None,
    ) -> SecurityCacheEntity:
        """State of one identity in the security cache (`UP_TO_DATE`, `IN_ERROR`, `DISABLED`, ...)."""
        body = SecurityCacheEntityRequest(
            name=name, type=_cache_type(identity_type), provider=provider_id
        ).to_wire_json()
        response = self._request(
            "POST",
            self._platform(f"/securitycache/entities/{quote(provider_id, safe='')}/entity"),
            body=body,
            deadline=deadline,
        )
        return SecurityCacheEntity.model_validate(self._json(response))

    def iter_security_cache_members(
        self,
        provider_id: str,
        name: str,
        identity_type: IdentityType | str,
        *,
        page_size: int = 100,
        deadline: Deadline | None = None,
    ) -> Iterator[SecurityCacheEntity]:
        """The members the security cache holds for a group (its direct children), every page."""
        body = SecurityCacheEntityRequest(
            name=name, type=_cache_type(identity_type), provider=provider_id
        ).to_wire_json()
        url = self._platform(f"/securitycache/entities/{quote(provider_id, safe='')}/members/children")
        page = 0
        while True:
            response = self._request(
                "POST",
                url,
                params={"recursive": "false", "page": page, "pageSize": page_size},
                body=body,
                deadline=deadline,
            )
            result = SecurityCacheMembersPage.model_validate(self._json(response))
            yield from result.items
            page += 1
            if page >= result.total_pages:
                return

    # --- sizes: what a full sync's deletion is weighed against ----------------------------------------

    def count_documents(self, source_id: str, *, deadline: Deadline | None = None) -> int:
        """The documents the source holds (`information.numberOfDocuments` of the Source API)."""
        response = self._request(
            "GET", self._platform(f"/sources/{quote(source_id, safe='')}"), deadline=deadline
        )
        payload = self._json(response)
        information = payload.get("information") if isinstance(payload, dict) else None
        count = information.get("numberOfDocuments") if isinstance(information, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise CoveoError(f"the source {source_id!r} reports no numberOfDocuments: {str(payload)[:200]}")
        return count

    def count_identities(self, provider_id: str, *, deadline: Deadline | None = None) -> int:
        """The identities of the provider the security cache holds that are not disabled (one
        request: a page of one entity, and its `totalEntries`)."""
        # `states` is an array (SPEC-SEC getEntities): sent in OpenAPI's default form, repeated
        # (`states=A&states=B`). In the URL itself: `params` is one value per name.
        query = httpx.QueryParams(
            [*(("states", state) for state in _ENABLED_STATES), ("page", 0), ("perPage", 1)]
        )
        url = self._platform(f"/securitycache/entities/{quote(provider_id, safe='')}")
        response = self._request("GET", f"{url}?{query}", deadline=deadline)
        payload = self._json(response)
        count = payload.get("totalEntries") if isinstance(payload, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise CoveoError(
                f"the security cache reports no totalEntries for {provider_id!r}: {str(payload)[:200]}"
            )
        return count

    # --- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _check_ordering_id(ordering_id: int | None) -> None:
        """An orderingId from the future makes Coveo reject every newer item until then: refuse it."""
        if ordering_id is None:
            return
        if ordering_id < 0:
            raise ValueError("orderingId must be >= 0")
        if ordering_id > _now_ms() + FUTURE_ORDERING_TOLERANCE_MS:
            raise ValueError(
                f"orderingId {ordering_id} is in the future; Coveo would reject newer updates until then"
            )


def _batch_params(file_id: str, ordering_id: int | None) -> dict[str, str | int | bool]:
    params: dict[str, str | int | bool] = {"fileId": file_id}
    if ordering_id is not None:
        params["orderingId"] = ordering_id
    return params


def _cache_type(identity_type: IdentityType | str) -> str:
    # The security cache spells types in PascalCase.
    return {
        IdentityType.USER: "User",
        IdentityType.GROUP: "Group",
        IdentityType.VIRTUAL_GROUP: "VirtualGroup",
        IdentityType.UNKNOWN: "Unknown",
    }[IdentityType(str(identity_type).upper())]


def _query_value(value: str | int | bool) -> str:
    # Coveo's clients send booleans as `true`/`false`.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _capped(timeout: httpx.Timeout, remaining: float) -> httpx.Timeout:
    def cap(value: float | None) -> float:
        return max(0.001, min(value if value is not None else remaining, remaining))

    return httpx.Timeout(
        connect=cap(timeout.connect), read=cap(timeout.read), write=cap(timeout.write), pool=cap(timeout.pool)
    )


def _error_from(response: httpx.Response, error_type: type[CoveoHTTPError] | None) -> CoveoHTTPError:
    status = response.status_code
    method, path = response.request.method, response.request.url.path
    error_code: str | None = None
    message: str | None = None
    text = response.text
    if text.lstrip().startswith("<"):  # S3 answers in XML
        code_match, message_match = _S3_CODE.search(text), _S3_MESSAGE.search(text)
        error_code = code_match.group(1).strip() if code_match else None
        message = message_match.group(1).strip() if message_match else None
    else:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            error_code = payload.get("errorCode") or payload.get("ErrorCode")
            message = payload.get("message") or payload.get("Message")
    message = message or (text[:300].strip() if text else None) or response.reason_phrase or "error"
    cls = error_type or error_for_status(status)
    kwargs: dict[str, Any] = {"status": status, "error_code": error_code, "method": method, "path": path}
    if cls is CoveoThrottledError:
        return CoveoThrottledError(
            message, retry_after=parse_retry_after(response.headers.get("Retry-After")), **kwargs
        )
    if cls is FileContainerUploadError:
        error = FileContainerUploadError(message, **kwargs)
        error.retryable = status in (429, 500, 502, 503, 504)
        return error
    return cls(message, **kwargs)
