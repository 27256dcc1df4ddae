"""moto's server for the benchmarks: `python -m bench.moto_server <port>`, with SQS made O(1) per message.

moto 5.2.5's SQS does work proportional to the queue's length for every message it takes or
deletes: each send computes every queue attribute (three counts that scan the queue, with a
datetime-based clock per message), and each delete scans the queue twice. With 10,000 queued
messages that is quadratic (hours); real SQS is not. These patches, in this process only, keep
moto's behaviour and remove the scans, so the numbers measure the connector rather than moto's
data structures. moto's DynamoDB is left as it is (its expression parser costs ~10 ms per
UpdateItem; that shows in the results and is said so).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

_counting = threading.local()
_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _fast_unix_time(dt: Any = None) -> float:
    if dt is None:
        return time.time()
    from moto.core.utils import unix_time

    return unix_time(dt)


def _fast_unix_time_millis(dt: Any = None) -> float:
    return _fast_unix_time(dt) * 1000.0


def patch_sqs() -> None:
    from moto.sqs import models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    # The same clock (seconds since the epoch, UTC) without building datetimes.
    models.unix_time = _fast_unix_time  # type: ignore[assignment]
    models.unix_time_millis = _fast_unix_time_millis  # type: ignore[assignment]

    # Queue counts only when GetQueueAttributes asks for them (a send only reads
    # ContentBasedDeduplication from the same dict; a receive only MessageRetentionPeriod).
    for name in _COUNTS:
        real = getattr(models.Queue, name).fget

        def counted(self: Any, real: Any = real) -> int:
            return int(real(self)) if getattr(_counting, "on", False) else 0

        setattr(models.Queue, name, property(counted))

    real_get_attributes = models.SQSBackend.get_queue_attributes

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
        # moto itself asks for MessageRetentionPeriod once per received message: no counts then.
        _counting.on = any(name == "All" or name.startswith("Approximate") for name in attribute_names)
        try:
            return real_get_attributes(self, queue_name, attribute_names)
        finally:
            _counting.on = False

    models.SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]

    def delete_message(self: Any, receipt_handle: str) -> None:
        # One pass that stops at the message (received messages sit near the front).
        if receipt_handle in self.deleted_messages:
            return
        index = next((i for i, m in enumerate(self._messages) if m.had_receipt_handle(receipt_handle)), None)
        if index is None:
            raise ReceiptHandleIsInvalid()
        message = self._messages.pop(index)
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)

    models.Queue.delete_message = delete_message  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    import logging

    from moto.server import ThreadedMotoServer

    patch_sqs()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(argv[0]), verbose=False)
    server.start()
    threading.Event().wait()  # until the parent terminates us
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
