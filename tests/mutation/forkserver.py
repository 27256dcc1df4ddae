"""A worker: imports pytest and the third-party libraries once, then forks a child per mutant.

Started as a script (not as part of the `tests` package) inside a worker's copy of the repository,
with PYTHONPATH pointing at that copy. It never imports the project's own packages or tests, so
each child imports them afresh from the copy, with whatever mutant is written there at the time.

Protocol, one JSON line each way: {"tests": [...], "timeout": seconds} →
{"outcome": "killed" | "survived" | "timeout" | "error", "seconds": s, "failed": [test ids]}.
"killed": tests failed in their call phase, nothing else went wrong; "error": pytest could not run
them as asked (a setup, teardown or collection error, an internal or usage error, a crash), which a
mutant may cause but so may the machine (a server that did not start, a port): worth a second look.
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


class _Tally:
    """A pytest plugin: the failures of a session, and in which phase each happened."""

    def __init__(self) -> None:
        self.failed: list[str] = []  # call-phase failures: the tests said no
        self.errors: list[str] = []  # setup, teardown or collection: the tests could not run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            (self.failed if report.when == "call" else self.errors).append(f"{report.nodeid} ({report.when})")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid} (collection)")


def run(tests: list[str], timeout_s: float) -> dict[str, object]:
    started = time.monotonic()
    # Examples Hypothesis saved while an earlier mutant failed would be replayed against this one.
    shutil.rmtree(".hypothesis", ignore_errors=True)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own process group, quiet, one pytest session
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        tally = _Tally()
        try:
            code = int(pytest.main([*PYTEST_ARGS, *tests], plugins=[tally]))
        except BaseException:
            code = 99
        # Few ids (-x stops at the first failure), well within a pipe's buffer: never blocks.
        os.write(write_end, json.dumps({"failed": tally.failed[:5], "errors": tally.errors[:5]}).encode())
        os._exit(code)
    os.close(write_end)
    failures: dict[str, list[str]] = {"failed": [], "errors": []}
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            with os.fdopen(read_end, "rb") as pipe:
                failures = json.loads(pipe.read() or b'{"failed": [], "errors": []}')
            if code == 0:
                outcome = "survived"
            elif code == int(pytest.ExitCode.TESTS_FAILED) and failures["failed"] and not failures["errors"]:
                outcome = "killed"
            else:  # exit codes 2-5, 99, a signal; or setup/teardown/collection errors
                outcome = "error"
            break
        if time.monotonic() - started > timeout_s:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_end)
            outcome = "timeout"
            break
        time.sleep(0.02)
    return {
        "outcome": outcome,
        "seconds": time.monotonic() - started,
        "failed": failures["failed"] + failures["errors"],
    }


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(run(request["tests"], float(request["timeout"]))), flush=True)


if __name__ == "__main__":
    main()
