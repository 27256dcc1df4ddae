"""A worker: imports pytest and the third-party libraries once, then forks a child per mutant.

Started as a script (not as part of the `tests` package) inside a worker's copy of the repository,
with PYTHONPATH pointing at that copy. It never imports the project's own packages or tests, so
each child imports them afresh from the copy, with whatever mutant is written there at the time.

Protocol, one JSON line each way: {"tests": [...], "timeout": seconds} →
{"outcome": "killed" | "survived" | "timeout", "seconds": s}.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time

# Third-party imports that every test run pays for; preloaded so a child does not.
import boto3  # noqa: F401
import botocore.session  # noqa: F401
import httpx  # noqa: F401
import hypothesis  # noqa: F401
import moto.server  # noqa: F401
import pydantic  # noqa: F401
import pytest
import starlette.applications  # noqa: F401
import uvicorn  # noqa: F401
import yaml  # noqa: F401
from pytest_args import PYTEST_ARGS  # a sibling: this file runs as a script


def run(tests: list[str], timeout_s: float) -> dict[str, object]:
    started = time.monotonic()
    # Examples Hypothesis saved while an earlier mutant failed would be replayed against this one.
    shutil.rmtree(".hypothesis", ignore_errors=True)
    pid = os.fork()
    if pid == 0:  # the child: its own process group, quiet, one pytest session
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            code = int(pytest.main([*PYTEST_ARGS, *tests]))
        except BaseException:
            code = 99
        os._exit(code)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            outcome = "survived" if code == 0 else "killed"
            break
        if time.monotonic() - started > timeout_s:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            outcome = "timeout"
            break
        time.sleep(0.02)
    return {"outcome": outcome, "seconds": time.monotonic() - started}


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(run(request["tests"], float(request["timeout"]))), flush=True)


if __name__ == "__main__":
    main()
