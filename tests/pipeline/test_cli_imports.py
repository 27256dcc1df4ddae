"""What `coveo-push` loads, and where `local` and `demo` find the template.

The operator tools (`failures`, `redrive`) run against AWS from an operator's machine: neither their
help nor a run may load moto or the local simulator (`aws_simulator`), which only `local` and
`demo` need. `python -X importtime` lists every module a process imports, so a subprocess shows it
whatever this test process has already imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aws_simulator.moto_server import REGION
from coveo_push_cli import local_run
from coveo_push_cli.main import build_parser, main
from coveo_push_cli.operator import LOCAL_REGION

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = ("moto", "aws_simulator")
# The emulator's web stack: `coveo-push` imports coveo_emulator.cli (argparse and a dataclass) only.
WEB_STACK = ("coveo_emulator.server", "coveo_emulator.app", "starlette", "uvicorn", "flask", "werkzeug")
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused


def run_cli(*args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`python -X importtime -m coveo_push_cli.main ARGS`: the process, and the modules it imported."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    process = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "coveo_push_cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    return process, imported_modules(process.stderr)


def imported_modules(stderr: str) -> list[str]:
    """The module names of importtime's lines: `import time: <self> | <cumulative> | <module>`."""
    modules = []
    for line in stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name != "imported package":  # the header line
                modules.append(name)
    return modules


def messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


def loaded(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_importtime_lines_are_parsed() -> None:
    # Guards the guard: a parser that found nothing would let every import through.
    process, modules = run_cli("version")
    assert process.returncode == 0, process.stderr
    assert {"argparse", "coveo_emulator.cli", "coveo_push_cli"} <= set(modules)


@pytest.mark.parametrize("command", ["failures", "redrive"])
def test_operator_help_loads_neither_the_simulator_nor_aws_nor_the_web_stack(command: str) -> None:
    process, modules = run_cli(command, "--help")

    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith(f"usage: coveo-push {command}")
    assert "--local-endpoint" in process.stdout
    assert loaded(modules, SIMULATOR + WEB_STACK + ("boto3", "botocore")) == []


@pytest.mark.parametrize(
    "args",
    [
        ["failures", "--table", "t", "--bucket", "b"],
        [
            "redrive",
            "--queue",
            "item",
            "--item-dlq-url",
            f"{UNREACHABLE}/q",
            "--item-queue-url",
            f"{UNREACHABLE}/r",
        ],
    ],
    ids=["failures", "redrive"],
)
def test_an_operator_run_loads_neither_moto_nor_the_simulator(args: list[str]) -> None:
    process, modules = run_cli(*args, "--local-endpoint", UNREACHABLE)

    assert process.returncode == 1, process.stderr
    [message] = messages(process.stderr)  # one line: botocore's, "Could not connect to the endpoint URL"
    assert message.startswith(f"coveo-push {args[0]}: ") and UNREACHABLE in message, message
    assert "boto3" in modules  # it did get as far as AWS
    assert loaded(modules, SIMULATOR + WEB_STACK) == []


def test_the_operators_local_region_is_the_one_the_local_run_provisions_in() -> None:
    # operator.py does not import the simulator, so it states the region itself: they must agree,
    # or `--local-endpoint` would look for the local run's queues and table where there are none.
    assert LOCAL_REGION == REGION


# --- where `local` and `demo` find the template ------------------------------------------------


@pytest.mark.parametrize("command", [["local", "--events", "events.json"], ["demo"]], ids=["local", "demo"])
def test_without_a_template_here_or_given_the_command_says_what_to_do(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "events.json").write_text("{}")

    assert main(command) == 2

    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        f"coveo-push: no template.yaml in the current directory ({tmp_path}): "
        "run from the project directory or pass --template PATH\n"
    )


def test_a_template_given_that_does_not_exist_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["demo", "--template", "nowhere/template.yaml"]) == 2

    assert capsys.readouterr().err == (
        "coveo-push: --template nowhere/template.yaml: no such file; "
        "pass the path of the project's template.yaml\n"
    )


class Started(BaseException):
    """Raised by the stand-in for run_local: the command got as far as starting the run (a
    BaseException, so that the command's report-any-defect `except Exception` lets it through)."""


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stops `local` and `demo` where they would start moto and the emulator; records the call."""
    calls: dict[str, Any] = {}

    def run_local(events: list[Any], **options: Any) -> dict[str, Any]:
        calls.update(options, events=events)
        raise Started

    monkeypatch.setattr(local_run, "run_local", run_local)
    return calls


@pytest.mark.parametrize("command", ["local", "demo"])
def test_template_given_from_elsewhere_is_used_with_the_worked_example_beside_it(
    command: str, started: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no template.yaml, no events/ here

    with pytest.raises(Started):
        main([command, "--template", str(ROOT / "template.yaml"), "--quiet"])

    assert started["template"] == ROOT / "template.yaml"
    assert started["events"] == local_run.worked_example(ROOT)


def test_template_in_the_current_directory_is_the_default(
    started: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    (tmp_path / "events.json").write_text('{"type": "item.upserted"}')
    monkeypatch.chdir(tmp_path)

    with pytest.raises(Started):
        main(["local", "--events", "events.json", "--quiet"])

    assert started["template"] == tmp_path.resolve() / "template.yaml"
    assert started["events"] == [{"type": "item.upserted"}]


def test_demo_takes_the_template_option_local_takes() -> None:
    parser = build_parser()
    for command in ("local", "demo"):
        assert parser.parse_args([command, "--template", "t.yaml"]).template == Path("t.yaml")
        assert parser.parse_args([command]).template is None


def test_run_local_without_a_template_looks_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(local_run.TemplateNotFoundError, match="run from the project directory"):
        local_run.run_local([], timeout_s=1)


@pytest.mark.parametrize(
    ("raised", "status", "said"),
    [
        (ValueError("the emulator refused faults: bad rule"), 2, "coveo-push: the emulator refused faults"),
        # A model refusing data deep inside the run is a defect, not the user's input (it once hid
        # the validator crashing on a full sync's group as "exit 2, 1 validation error").
        (None, 1, "Result: NOT OK: the local run failed: ValidationError"),
    ],
)
def test_the_user_is_blamed_only_for_the_users_input(
    raised: Exception | None,
    status: int,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from coveo_push_api.models import IdentityBody

    def run_local(events: list[Any], **options: Any) -> dict[str, Any]:
        if raised is not None:
            raise raised
        IdentityBody.model_validate({"identity": {"name": "g", "type": "GROUP"}, "syncId": "s"})
        raise AssertionError("the model accepted a field it does not have")

    monkeypatch.setattr(local_run, "run_local", run_local)
    report = tmp_path / "report.json"
    code = main(["local", "--template", str(ROOT / "template.yaml"), "--quiet", "--report", str(report)])
    out = capsys.readouterr()
    assert code == status
    assert said in out.out + out.err
    if status == 1:
        assert json.loads(report.read_text())["ok"] is False
