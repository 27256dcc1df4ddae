"""Why a change cannot be pushed: every permanent failure carries a reason a person can act on."""

from __future__ import annotations


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
