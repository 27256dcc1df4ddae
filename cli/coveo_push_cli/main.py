"""`coveo-push` console script: one entry point for the local tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coveo-push", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the connector version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        from importlib.metadata import version

        print(version("coveo-secured-push-connector"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
