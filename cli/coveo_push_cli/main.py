"""`coveo-push` console script: one entry point for the local tools."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from coveo_emulator.cli import add_arguments as add_emulator_arguments

from . import producer_args
from .timeouts import DEFAULT_TIMEOUT_S, TIMEOUT_PER_EVENT_S

# When the command began (its imports above are light): `coveo-push local` reports its wall clock
# from here, not from when its servers started.
STARTED = time.monotonic()

# The commands' modules load boto3, moto and the connector (about a second): they are imported
# only when their command runs, so the arguments are declared here.
DEMO_PROCESSING_DELAY_S = 3.0  # long enough to show the validator waiting for Coveo
DEMO_TIMEOUT_S = 55.0  # the demo promises its verdict in under a minute


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coveo-push", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the connector version")
    emulator = sub.add_parser("emulator", help="serve the local Coveo emulator (Push, Logs, permission APIs)")
    add_emulator_arguments(emulator)
    commands = {
        "local": "run the whole pipeline on one machine (moto + the emulator) and report",
        "demo": "`local` on the worked example, with a Coveo-like processing delay",
        "failures": "list the ledger's FAILED pushes and why Coveo refused them",
        "syncs": "list the latest full syncs: state, counts, and why one failed or was refused",
        "redrive": "move dead letters back to their queue, or re-push FAILED ledger rows",
    }
    parsers = {name: sub.add_parser(name, help=text, description=text) for name, text in commands.items()}
    _add_local_arguments(parsers["local"])
    _add_local_arguments(parsers["demo"], demo=True)
    _add_failures_arguments(parsers["failures"])
    _add_syncs_arguments(parsers["syncs"])
    _add_redrive_arguments(parsers["redrive"])
    producer_args.add_commands(sub)  # send, sync
    return parser


def _add_local_arguments(parser: argparse.ArgumentParser, *, demo: bool = False) -> None:
    if not demo:
        parser.add_argument(
            "--events",
            nargs="+",
            action="extend",
            type=Path,
            metavar="FILE",
            help="CloudEvents to send: one event, a JSON array, or JSON Lines; a JSON string is sent as "
            "a raw message body (default: the worked example, events/worked-example/ next to the template)",
        )
        parser.add_argument(
            "--faults",
            type=Path,
            metavar="FILE",
            help="emulator fault rules (the JSON body PUT /_emulator/faults takes)",
        )
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report here")
    parser.add_argument(
        "--processing-delay",
        type=float,
        default=DEMO_PROCESSING_DELAY_S if demo else 0.0,
        metavar="S",
        help="seconds the emulator takes to apply a push; Coveo takes minutes (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEMO_TIMEOUT_S if demo else None,
        metavar="S",
        help=(
            "stop draining and validating after this long, and say so (default: "
            + (
                f"{DEMO_TIMEOUT_S:g} s)"
                if demo
                else f"{DEFAULT_TIMEOUT_S:g} s plus {TIMEOUT_PER_EVENT_S * 1000:g} ms per event)"
            )
        ),
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--quiet", action="store_true", help="no progress and no readable report, only the verdict"
    )
    output.add_argument(
        "--verbose",
        action="store_true",
        help="print every item, access check, identity, dead letter and failure, not a summary "
        "(--report FILE always has everything)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="after the report, keep moto, the emulator, the pollers and the validator running, and "
        "print the endpoints and `export` lines for `coveo-push failures`, `syncs` and `redrive`; "
        "Ctrl-C stops them",
    )
    parser.add_argument(
        "--function-logs",
        type=Path,
        metavar="FILE",
        help="keep the functions' JSON logs and EMF metrics here (default: not kept)",
    )
    parser.add_argument(
        "--template",
        type=Path,
        metavar="PATH",
        help="the SAM template to provision from (default: template.yaml in the current directory)",
    )
    if not demo:
        parser.add_argument(
            "--parameter",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a template parameter, e.g. AllowPublicItems=true (repeatable); checked against the "
            "template's declaration (Type, AllowedValues, MinValue, MaxValue, AllowedPattern, MinLength, "
            "MaxLength): a wrong one exits 2",
        )


def _add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local-endpoint",
        metavar="URL",
        help="a local AWS endpoint (moto, as the local run and the tests use) with fake credentials; "
        "without it, the AWS account and region of the environment",
    )


def _add_failures_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N rows, oldest push first (default: 100)"
    )
    parser.add_argument("--table", help="the ledger table (default: $LEDGER_TABLE)")
    parser.add_argument(
        "--bucket", help="the ledger bucket, where each push's details are kept (default: $LEDGER_BUCKET)"
    )
    _add_aws_arguments(parser)


def _add_syncs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="the latest N syncs, newest first (default: 20)"
    )
    parser.add_argument(
        "--table", help="the ledger table, where the syncs are recorded (default: $LEDGER_TABLE)"
    )
    _add_aws_arguments(parser)


def _add_redrive_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repush",
        nargs="+",
        metavar="KEY",
        help="re-push these FAILED ledger rows (keys as `failures` lists them, or documentIds) "
        "instead of moving dead letters",
    )
    parser.add_argument(
        "--queue",
        choices=["item", "identity", "all"],
        default="all",
        help="whose dead letters to move (default: all)",
    )
    parser.add_argument(
        "--mode",
        choices=["auto", "move-task", "resend"],
        default="auto",
        help="move-task: SQS StartMessageMoveTask (AWS); resend: receive, send to the source queue, "
        "delete (local emulators lack move tasks); auto: resend with --local-endpoint, else move-task",
    )
    parser.add_argument(
        "--max-per-second", type=int, metavar="N", help="move-task rate limit (default: SQS's own)"
    )
    for kind, upper in (("item", "ITEM"), ("identity", "IDENTITY")):
        parser.add_argument(
            f"--{kind}-dlq-url",
            metavar="URL",
            help=f"the {kind} dead-letter queue (default: ${upper}_DEAD_LETTER_QUEUE_URL)",
        )
        parser.add_argument(
            f"--{kind}-queue-url",
            metavar="URL",
            help=f"where its dead letters go back (default: ${upper}_QUEUE_URL, else the queue whose "
            "redrive policy names the DLQ)",
        )
    _add_aws_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        from importlib.metadata import version

        print(version("coveo-secured-push-connector"))
    elif args.command == "emulator":
        from coveo_emulator.cli import run as run_emulator

        return run_emulator(args)
    elif args.command in ("local", "demo"):
        from .local_run import run as run_local

        args.started = STARTED
        code = run_local(args, demo=args.command == "demo")
        if argv is None:  # the process's own command line: it exits next
            # Python's last collection over everything the run loaded (moto, boto3, the servers)
            # takes about a second that "Local run: N s" would not show; frozen objects skip it.
            gc.freeze()
        return code
    elif args.command == "failures":
        from .operator import run_failures

        return run_failures(args)
    elif args.command == "syncs":
        from .operator import run_syncs

        return run_syncs(args)
    elif args.command == "redrive":
        from .operator import run_redrive

        return run_redrive(args)
    elif args.command in ("send", "sync"):
        return producer_args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
