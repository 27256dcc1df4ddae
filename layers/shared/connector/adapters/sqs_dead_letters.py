"""Dead-lettering a message at once, with the reason in message attributes."""

from __future__ import annotations

import re
import time
from typing import Any

from ..domain.strict_json import printable

MAX_ATTRIBUTE_CHARS = 1_000  # keeps the reason readable in the console; the whole text is logged
MIN_REASON_CHARS = 200
MAX_EVENT_ID_CHARS = 256
MAX_MESSAGE_BYTES = 262_144  # SQS counts the body and every attribute's name, type and value
# Characters SQS accepts in a body or a String attribute; anything else fails the whole send.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class SqsDeadLetters:
    def __init__(self, client: Any, queue_url: str, source: str) -> None:
        self._sqs = client
        self._url = queue_url
        self._source = source  # the function that dead-lettered it, e.g. "push_items"

    def send(
        self, body: str, *, reason: str, kind: str, event_id: str | None, event_type: str | None
    ) -> None:
        """Whatever the message held, the attributes are always sendable: printable, bounded, and
        within SQS's message size with the body."""
        safe_body, escaped = sqs_text(body or "(empty message body)")
        attributes = {
            "errorKind": _string(kind),
            "deadLetteredBy": _string(self._source),
            "deadLetteredAt": {"DataType": "Number", "StringValue": str(int(time.time() * 1000))},
        }
        if event_id:
            attributes["eventId"] = _string(printable(event_id, MAX_EVENT_ID_CHARS))
        if event_type:
            attributes["eventType"] = _string(printable(event_type, MAX_EVENT_ID_CHARS))
        if escaped:
            attributes["bodyEscaped"] = _string("characters SQS cannot carry are written as \\uXXXX")
        room = MAX_MESSAGE_BYTES - len(safe_body.encode()) - _size(attributes) - len("reason") - 16
        # The reason shrinks to fit beside a body near SQS's limit, never below a readable sentence.
        limit = MAX_ATTRIBUTE_CHARS
        text = printable(reason, limit)
        while len(text.encode()) > room and limit > MIN_REASON_CHARS:
            limit = max(MIN_REASON_CHARS, limit // 2)
            text = printable(reason, limit)
        attributes["reason"] = _string(text)
        self._sqs.send_message(QueueUrl=self._url, MessageBody=safe_body, MessageAttributes=attributes)


def sqs_text(text: str) -> tuple[str, bool]:
    """`text` with what SQS refuses (lone surrogates, most control characters) escaped; whether any was."""
    if _NOT_SQS_TEXT.search(text) is None:
        return text, False
    return _NOT_SQS_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", text), True


def _size(attributes: dict[str, dict[str, str]]) -> int:
    return sum(len(n) + len(a["DataType"]) + len(a["StringValue"].encode()) for n, a in attributes.items())


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value or "-"}
