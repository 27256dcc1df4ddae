"""The arguments of `coveo-push send` and `coveo-push sync` (producer.py runs them). Light: main.py
imports it to build the parser, and boto3 and the connector load only when a command runs."""

from __future__ import annotations

import argparse
from typing import Any

SCOPES = ["items", "identities"]


def add_commands(sub: Any) -> None:
    send = sub.add_parser(
        "send",
        help="send CloudEvents from files to the connector's queues (checked, routed, batched)",
        description="Read CloudEvents (a JSON object, a JSON array or JSON Lines; - for stdin), check "
        "each against the event contract, route it to its queue by type and send them with "
        "SendMessageBatch. A bad event is reported with its line and not sent.",
    )
    send.add_argument(
        "--queue",
        choices=["item", "identity", "auto"],
        default="auto",
        help="auto: by type (item.* and items syncs to the item queue, identity.* and identities syncs "
        "to the identity queue); item or identity: every event there, refusing those whose type says "
        "otherwise (default: auto)",
    )
    send.add_argument(
        "--raw",
        action="store_true",
        help="send events that fail the contract too (to see the connector dead-letter them); SQS's "
        "own limits still apply",
    )
    _add_common(send)
    sync = sub.add_parser(
        "sync",
        help="send files as one full sync: sync.started, the changes with their syncId, sync.completed",
        description="Send the changes of FILE ... as one full sync of SCOPE: sync.started, every change "
        "with data.syncId, then sync.completed with the number of changes sent. The connector then "
        "deletes what the sync left out. If any event is bad or not sent, sync.completed is not sent "
        "and the sync deletes nothing.",
    )
    sync.add_argument("--scope", required=True, choices=SCOPES, help="what the sync covers")
    sync.add_argument(
        "--sync-id", metavar="ID", help="the sync's id (default: generated from the scope and the time)"
    )
    sync.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="let the sync delete more than SyncMaxDeleteShare of the source (allowMassDelete)",
    )
    _add_common(sync)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="events files; - reads stdin")
    for kind, variable in (("item", "ITEM_QUEUE_URL"), ("identity", "IDENTITY_QUEUE_URL")):
        parser.add_argument(
            f"--{kind}-queue-url",
            metavar="URL",
            help=f"the {kind} queue (default: --stack, else ${variable})",
        )
    parser.add_argument(
        "--stack", metavar="NAME", help="read the queues' URLs from this CloudFormation stack's outputs"
    )
    parser.add_argument(
        "--local-endpoint",
        metavar="URL",
        help="a local AWS endpoint (a `coveo-push local --keep` run's moto) with fake credentials",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="calls in flight (default: %(default)s)"
    )
    parser.add_argument(
        "--progress", action="store_true", help="progress on stderr even when it is not a terminal"
    )
    parser.add_argument("--verbose", action="store_true", help="list every bad or failed event")


def run(args: argparse.Namespace) -> int:
    """Run `send` or `sync` (their module loads boto3 and the connector)."""
    from .producer import run_send, run_sync

    return run_send(args) if args.command == "send" else run_sync(args)
