"""Typed errors: every failure a caller sees carries Coveo's status, errorCode and message.

Never put a request's headers in a message: they hold the API key.
"""

from __future__ import annotations


class CoveoError(Exception):
    """Base of every error raised by this package."""

    #: True when the same request may succeed later (throttling, 5xx, network).
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.message = message
        self.method = method
        self.path = path
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = []
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.error_code:
            parts.append(self.error_code)
        head = " ".join(parts)
        return f"{head}: {self.message}" if head else self.message


class CoveoHTTPError(CoveoError):
    """Coveo answered with an error status."""


class CoveoBadRequestError(CoveoHTTPError):
    """400: the body or parameters are wrong; fix the request."""


class CoveoAuthError(CoveoHTTPError):
    """401/403: missing, invalid or under-privileged API key."""


class CoveoNotFoundError(CoveoHTTPError):
    """404: unknown organization (or route)."""


class CoveoPreconditionError(CoveoHTTPError):
    """412: unknown source or provider, missing parameter, licence limit."""


class CoveoPayloadTooLargeError(CoveoHTTPError):
    """413: request over 6 MB, inline data over 5 MB, or container over 256 MB."""


class CoveoUnsupportedMediaTypeError(CoveoHTTPError):
    """415: wrong Content-Type."""


class CoveoThrottledError(CoveoHTTPError):
    """429: throttled or daily quota reached. `retry_after` is in seconds when Coveo said."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class CoveoServerError(CoveoHTTPError):
    """5xx: Coveo (or AWS behind it) failed; the same request may succeed later."""

    retryable = True


class CoveoTransportError(CoveoError):
    """No usable answer: connection refused or dropped, or a timeout."""

    retryable = True


class FileContainerUploadError(CoveoHTTPError):
    """The upload to a container's `uploadUri` failed. A 403 means the container is unusable
    (expired, already used, or headers not exactly `requiredHeaders`): create a new one."""


class DeadlineExceededError(CoveoError):
    """Retrying would run past the caller's deadline; `last_error` is what the last attempt got."""

    retryable = True

    def __init__(self, message: str, *, last_error: CoveoError | None = None) -> None:
        self.last_error = last_error
        super().__init__(
            message,
            status=last_error.status if last_error else None,
            error_code=last_error.error_code if last_error else None,
            method=last_error.method if last_error else None,
            path=last_error.path if last_error else None,
        )


class ItemTooLargeError(CoveoError):
    """Cannot be sent in any form Coveo accepts (e.g. metadata alone over 6 MB, content over 256 MB)."""


def error_for_status(status: int) -> type[CoveoHTTPError]:
    if status == 400:
        return CoveoBadRequestError
    if status in (401, 403):
        return CoveoAuthError
    if status == 404:
        return CoveoNotFoundError
    if status == 412:
        return CoveoPreconditionError
    if status == 413:
        return CoveoPayloadTooLargeError
    if status == 415:
        return CoveoUnsupportedMediaTypeError
    if status == 429:
        return CoveoThrottledError
    if status >= 500:
        return CoveoServerError
    return CoveoHTTPError
