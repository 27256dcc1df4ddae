"""`coveo-push local --keep`: the local stack left running after the run, for the operator tools.

Once the report is out, moto and the emulator keep serving, the pollers keep feeding both queues to
the functions and the validator keeps running, as in AWS. What the operator tools read is printed
as `export` lines (endpoint, region, fake credentials, table, bucket, queues), so `coveo-push
failures`, `syncs` and `redrive` can be tried from another shell. Ctrl-C (or SIGTERM) stops it all.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from aws_simulator.moto_server import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, REGION
from aws_simulator.stack import FUNCTIONS, LocalStack

from .local_run import function_output

# How often the validator runs while the stack is kept (the deployed schedule is minutes).
VALIDATE_EVERY_S = 5.0
IDLE_POLL_S = 0.5  # a queue found empty is polled again after this long


def exports(stack: LocalStack) -> dict[str, str]:
    """What a shell needs to reach the kept stack: AWS's endpoint, region and fake credentials (any
    are accepted), then every variable the functions run with (table, bucket, dead-letter queues,
    the emulator's Coveo ids and URL, the API key's secret name, never the key) and the source
    queues' URLs, which `coveo-push redrive` reads."""
    found = {
        "AWS_ENDPOINT_URL": stack.aws.endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
    }
    for name, value in sorted(stack.env().items()):
        found.setdefault(name, value)  # the endpoint and credentials above are the ones to reach it
    for queue in FUNCTIONS:
        variable = "ITEM_QUEUE_URL" if queue == "ItemQueue" else "IDENTITY_QUEUE_URL"
        found[variable] = stack.resources.queue_url(queue)
    return found


def describe(stack: LocalStack) -> str:
    """The endpoints, the export lines and commands to try."""
    lines = [
        "",
        "The local stack keeps running (--keep): the pollers feed both queues to the functions and",
        f"the validator runs every {VALIDATE_EVERY_S:g} s. Ctrl-C stops it.",
        f"  AWS (moto):    {stack.aws.endpoint_url}",
        f"  Coveo (emulator): {stack.coveo.base_url}  (its control surface: {stack.coveo.base_url}/_emulator/state)",
        "",
        "In another shell:",
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in exports(stack).items()]
    lines += [
        "",
        'coveo-push failures --local-endpoint "$AWS_ENDPOINT_URL"    # FAILED pushes and why',
        'coveo-push syncs --local-endpoint "$AWS_ENDPOINT_URL"       # full syncs',
        'coveo-push redrive --local-endpoint "$AWS_ENDPOINT_URL"     # dead letters back to their queue',
        'aws sqs send-message --queue-url "$ITEM_QUEUE_URL" --message-body file://event.json',
    ]
    return "\n".join(lines)


def serve_until_interrupted(
    stack: LocalStack,
    *,
    out: TextIO = sys.stdout,
    function_logs: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Print `describe`, then poll both queues and run the validator until Ctrl-C, SIGTERM or
    `stop` is set; then say so."""
    out.write(describe(stack) + "\n")
    out.flush()
    stop = threading.Event() if stop is None else stop
    with _interrupts_set(stop), function_output(function_logs):
        workers = [
            threading.Thread(target=_poll, args=(stack, queue, stop), name=f"keep-{queue}", daemon=True)
            for queue in FUNCTIONS
        ]
        workers.append(
            threading.Thread(target=_validate, args=(stack, stop), name="keep-validator", daemon=True)
        )
        for worker in workers:
            worker.start()
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            stop.set()
        for worker in workers:
            worker.join(timeout=30)
    out.write("Stopped the local stack.\n")
    out.flush()


@contextmanager
def _interrupts_set(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (in the main thread only: elsewhere, `stop` alone ends it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(*_: object) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, was in previous.items():
            signal.signal(sig, was)


def _poll(stack: LocalStack, queue: str, stop: threading.Event) -> None:
    with stack.poller(queue) as poller:
        _repeat(stop, lambda: IDLE_POLL_S if poller.poll_once() is None else 0.0, f"the {queue} poller")


def _validate(stack: LocalStack, stop: threading.Event) -> None:
    validator = stack.runtime.validator("validate_pushes")

    def run() -> float:
        validator.run()
        return VALIDATE_EVERY_S

    _repeat(stop, run, "the validator")


def _repeat(stop: threading.Event, step: Callable[[], float], what: str) -> None:
    """`step` until `stop`, waiting as long as it says between calls; an error is printed and the
    loop goes on (as Lambda would invoke again), a second later."""
    while not stop.is_set():
        try:
            wait = step()
        except Exception:  # the kept stack must outlive one bad invocation
            sys.stderr.write(f"coveo-push local --keep: {what} failed:\n{traceback.format_exc()}")
            wait = 1.0
        if wait:
            stop.wait(wait)


__all__ = ["describe", "exports", "serve_until_interrupted"]
