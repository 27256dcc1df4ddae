"""Command line of the emulator, shared by `coveo-push emulator` and `python -m coveo_emulator`.

Importing this module is cheap (no web stack): the CLI builds its parser before knowing which
command runs.
"""

from __future__ import annotations

import argparse
import contextlib

from coveo_emulator.config import EmulatorConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = EmulatorConfig()
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    parser.add_argument(
        "--processing-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds between a 202 and its effect (default: %(default)s; Coveo takes minutes)",
    )
    parser.add_argument(
        "--org", default=defaults.organization_id, help="organization id (default: %(default)s)"
    )
    parser.add_argument("--source", default=defaults.source_id, help="Push source id (default: %(default)s)")
    parser.add_argument(
        "--provider",
        default=defaults.provider_id,
        help="security identity provider id (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key", default=defaults.api_key, help="the API key clients must send (default: %(default)s)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )


def run(args: argparse.Namespace) -> int:
    from coveo_emulator.server import serve  # the web stack, only when serving

    config = EmulatorConfig(
        organization_id=args.org,
        source_id=args.source,
        provider_id=args.provider,
        api_key=args.api_key,
        processing_delay_s=args.processing_delay,
    )
    base = f"http://{args.host}:{args.port}"
    print(
        f"Coveo emulator on {base}\n"
        f"  organization {config.organization_id}, source {config.source_id}, provider {config.provider_id}\n"
        f"  Authorization: Bearer {config.api_key}\n"
        f"  processing delay {config.processing_delay_s}s; control surface {base}/_emulator/ (see docs/emulator.md)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one stops it
        serve(config, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coveo_emulator", description="Local Coveo emulator")
    add_arguments(parser)
    return run(parser.parse_args(argv))
