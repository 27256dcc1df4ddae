"""Command line of the emulator, shared by `coveo-push emulator` and `python -m coveo_emulator`.

Importing this module is cheap (no web stack): the CLI builds its parser before knowing which
command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

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
        "--latency-ms",
        type=float,
        default=defaults.latency_ms,
        metavar="MS",
        help="round trip of every Coveo request, applied by the server (default: %(default)s, off; "
        "PUT /_emulator/latency changes it at run time)",
    )
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=defaults.jitter_ms,
        metavar="MS",
        help="each round trip is drawn uniformly from latency +/- this, at most the latency "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--latency-seed",
        type=int,
        default=defaults.latency_seed,
        metavar="N",
        help="seed of the jitter's RNG (default: %(default)s)",
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

    try:
        config = EmulatorConfig(
            organization_id=args.org,
            source_id=args.source,
            provider_id=args.provider,
            api_key=args.api_key,
            processing_delay_s=args.processing_delay,
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            latency_seed=args.latency_seed,
        )
    except ValueError as exc:
        print(f"coveo-push emulator: {exc}", file=sys.stderr)
        return 2
    base = f"http://{args.host}:{args.port}"
    print(
        f"Coveo emulator on {base}\n"
        f"  organization {config.organization_id}, source {config.source_id}, provider {config.provider_id}\n"
        f"  Authorization: Bearer {config.api_key}\n"
        f"  processing delay {config.processing_delay_s}s; {_latency_text(config)}\n"
        f"  control surface {base}/_emulator/ (see docs/emulator.md)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one stops it
        serve(config, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _latency_text(config: EmulatorConfig) -> str:
    if not config.latency_ms:
        return "no added latency"
    return (
        f"round trip {config.latency_ms:g} ms +/- {config.jitter_ms:g} ms (uniform, seed {config.latency_seed}) "
        "on every Coveo route"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coveo_emulator", description="Local Coveo emulator")
    add_arguments(parser)
    return run(parser.parse_args(argv))
