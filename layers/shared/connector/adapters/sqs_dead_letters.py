"""Dead-lettering a message at once, with the reason in message attributes."""

from __future__ import annotations

import time
from typing import Any

MAX_ATTRIBUTE_CHARS = 1_000  # keeps the reason readable in the console; the whole text is logged


class SqsDeadLetters:
    def __init__(self, client: Any, queue_url: str, source: str) -> None:
        self._sqs = client
        self._url = queue_url
        self._source = source  # the function that dead-lettered it, e.g. "push_items"

    def send(
        self, body: str, *, reason: str, kind: str, event_id: str | None, event_type: str | None
    ) -> None:
        attributes = {
            "reason": _string(reason[:MAX_ATTRIBUTE_CHARS]),
            "errorKind": _string(kind),
            "deadLetteredBy": _string(self._source),
            "deadLetteredAt": {"DataType": "Number", "StringValue": str(int(time.time() * 1000))},
        }
        if event_id:
            attributes["eventId"] = _string(event_id)
        if event_type:
            attributes["eventType"] = _string(event_type)
        # An empty body cannot be sent to SQS; a placeholder keeps the reason.
        self._sqs.send_message(
            QueueUrl=self._url, MessageBody=body or "(empty message body)", MessageAttributes=attributes
        )


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value or "-"}
