"""`coveo-push emulator` serves the emulator until interrupted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from coveo_push_cli.main import build_parser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_parser_defaults_are_the_worked_example() -> None:
    args = build_parser().parse_args(["emulator"])
    assert (args.host, args.port, args.processing_delay) == ("127.0.0.1", 8765, 0.0)
    assert (args.org, args.source, args.provider) == (
        "mycoveocloudv2organizationg8tp8wu3",
        "mysourceidg3c5d1r2",
        "mysecurityidentityprovider8d9s8d",
    )
    assert args.api_key == "xx-emulator-local-key"


def test_emulator_command_serves_until_interrupted() -> None:
    port = free_port()
    script = Path(sys.executable).with_name("coveo-push")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "coveo_push_cli.main"]
    process = subprocess.Popen(
        [
            *command,
            "emulator",
            "--port",
            str(port),
            "--org",
            "myorg",
            "--api-key",
            "k1",
            "--processing-delay",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.05)
        files = httpx.post(
            f"{base}/push/v1/organizations/myorg/files", headers={"Authorization": "Bearer k1"}
        )
        assert files.status_code == 201
        state = httpx.get(f"{base}/_emulator/state").json()
        assert state["organizationId"] == "myorg"
        assert state["processingDelaySeconds"] == 0.2
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in out.decode()
