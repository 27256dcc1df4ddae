"""Why a change cannot be pushed: every permanent failure carries a reason a person can act on."""

from __future__ import annotations

from .strict_json import printable


class PermanentError(Exception):
    """Retrying will not help: the change goes to the dead-letter queue with `reason`."""

    kind = "permanent"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InvalidEvent(PermanentError):
    """The message is not a valid event of the contract (bad JSON, envelope, type or data)."""

    kind = "invalid-event"


class RefusedChange(PermanentError):
    """A valid event the deployment's policy refuses (no permissions, too many permissions...)."""

    kind = "refused"


class RejectedByCoveo(PermanentError):
    """Coveo refused the change with a client error that resending cannot fix."""

    kind = "rejected-by-coveo"


class Unprocessable(PermanentError):
    """Handling this one message raised where no other message would: it goes to the DLQ with the
    exception, so that it cannot take its neighbours down with it (poison isolation)."""

    kind = "unprocessable"


class RetriesExhausted(PermanentError):
    """Still failing on the delivery that SQS's maxReceiveCount makes the last: dead-lettered by the
    connector with the last error, rather than moved by SQS with none."""

    kind = "retries-exhausted"


class LedgerRefused(PermanentError):
    """DynamoDB refused to store this change's row (a value it cannot hold), not the ledger at large."""

    kind = "unprocessable"


class ContentNotFound(PermanentError):
    """The object a `data.contentRef` names does not exist."""

    kind = "refused"


def describe_exception(exc: BaseException, limit: int = 300) -> str:
    """`ClassName: message`, short and printable, for a reason (never a traceback)."""
    text = str(exc)
    return f"{type(exc).__name__}: {printable(text, limit)}" if text else type(exc).__name__
