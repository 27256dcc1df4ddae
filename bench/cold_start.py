"""Cold start: importing each handler module in a fresh interpreter, as Lambda's init phase does.

Each handler is `functions/<name>/app.py` imported with the layer (layers/shared) first on
sys.path, in Lambda-like environment variables. Every probe runs as `python -S`, with the venv's
site-packages appended to sys.path by hand: Lambda's runtime sees a layer as a plain directory, so
the editable install's import hook (a .pth file, ~13 ms) must not count. `click` is hidden too:
httpx imports it when it is installed (moto brings it here) and the layer does not ship it.

One unmeasured run first writes the .pyc files (Lambda packages ship them, or should); then the
median of `runs` fresh processes. `import_ms` is the import alone, timed inside the process (what
the 250 ms target is about); `process_ms` is the whole process, interpreter start-up included,
timed from outside. `python_bare` is `python -S -c pass`; `powertools_with_tracer` is a plain
Powertools handler module that creates `Tracer()`, the usual template (bench/powertools_tracer_app.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import FUNCTIONS, LAYER, log, median

HANDLERS = ("push_items", "push_identities", "validate_pushes")
BENCH_DIR = Path(__file__).resolve().parent
SITE_PACKAGES = [path for path in sys.path if path.endswith("site-packages")]
_PROBE = (
    "import sys, time\n"
    "sys.modules['click'] = None\n"
    "sys.path[:0] = {paths!r}\n"
    "sys.path += {site!r}\n"
    "started = time.perf_counter()\n"
    "import {module}\n"
    "print((time.perf_counter() - started) * 1000)\n"
)


def _environment(function_name: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))
    }
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": function_name,
            "POWERTOOLS_METRICS_NAMESPACE": "CoveoConnector",
        }
    )
    return env


def _once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    process_ms = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        raise RuntimeError(f"{command[-1][:80]!r} failed:\n{completed.stderr[-2000:]}")
    import_ms = float(completed.stdout.strip().splitlines()[-1]) if completed.stdout.strip() else 0.0
    return import_ms, process_ms


def _measure(command: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    _once(command, env)  # writes the .pyc files
    samples = [_once(command, env) for _ in range(runs)]
    return {
        "import_ms": round(median(s[0] for s in samples), 1),
        "process_ms": round(median(s[1] for s in samples), 1),
        "runs": runs,
        "import_ms_samples": [round(s[0], 1) for s in samples],
    }


def measure(runs: int = 10) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in HANDLERS:
        probe = _PROBE.format(paths=[str(LAYER), str(FUNCTIONS / name)], site=SITE_PACKAGES, module="app")
        results[name] = _measure([sys.executable, "-S", "-c", probe], _environment(name), runs)
        log(f"  cold start {name}: import {results[name]['import_ms']} ms")
    results["python_bare"] = _measure([sys.executable, "-S", "-c", "pass"], _environment("bare"), runs)
    results["python_bare"]["import_ms"] = 0.0
    probe = _PROBE.format(paths=[str(BENCH_DIR)], site=SITE_PACKAGES, module="powertools_tracer_app")
    results["powertools_with_tracer"] = _measure(
        [sys.executable, "-S", "-c", probe], _environment("tracer"), runs
    )
    for name in ("python_bare", "powertools_with_tracer"):
        log(
            f"  cold start {name}: import {results[name]['import_ms']} ms, process {results[name]['process_ms']} ms"
        )
    return results
