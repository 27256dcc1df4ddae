"""`coveo-push local --keep` in a process of its own, for the tests that use the stack it leaves up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class KeptRun:
    env: dict[str, str]  # the environment the run was started with (loopback not proxied)
    printed: list[str]  # what it printed, up to the last line --keep prints
    exports: dict[str, str]  # its `export NAME=value` lines
    # Once the run is stopped (Ctrl-C): its exit status and the rest of its output.
    returncode: int | None = None
    rest: str = ""
    errors: str = field(default="", repr=False)


@contextmanager
def kept_local_run(*arguments: str, startup_s: float = 90) -> Iterator[KeptRun]:
    """Start `coveo-push local --keep --quiet *arguments`, read until it printed its endpoints and
    exports, yield them, then stop it as a user does (SIGINT) and keep how it ended."""
    env = {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "coveo_push_cli.main", "local", "--keep", "--quiet", *arguments]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    run = KeptRun(env, [], {})
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            run.printed.append(line)
            if line.startswith("aws sqs send-message"):  # the last line of what --keep prints
                break
        run.exports = dict(
            line.removeprefix("export ").rstrip("\n").split("=", 1)
            for line in run.printed
            if line.startswith("export ")
        )
        yield run
    finally:
        process.send_signal(signal.SIGINT)
        run.rest, run.errors = process.communicate(timeout=60)
        run.returncode = process.returncode
