"""Where a process's CPU goes, across all its threads: cProfile on every thread, timed by each
thread's own CPU clock.

pyinstrument and a plain cProfile see one thread; the connector's ledger runs its DynamoDB calls on
16 threads, whose botocore work is CPU the function pays. `ThreadCpuProfile` enables a
`cProfile.Profile(time.thread_time)` in the thread that starts it and, through
`threading.setprofile`, in every thread started afterwards (the ledger's pool is started by the
first invocation). Timing by `time.thread_time` counts CPU only: a call waiting on a socket, a lock
or a sleep (bench/common.py's injected AWS latency) costs what it burned, not how long it waited.
(An in-process *sampling* profiler cannot do this fairly: it only gets the GIL where a thread lets
go of it, and charges the CPU there.)

`consumers()` charges the CPU to the product's functions (`connector`, `coveo_push_api`): each one
gets its inclusive CPU less what the product functions it calls took, i.e. its own code plus the
libraries it calls (botocore, pydantic, json, zlib, httpx, ...), with that split by library. The
top of that list is what limits the handler's CPU. cProfile's overhead inflates Python-heavy code
more than C; shares are the figures to read, and the profiled run is not the measured one.
"""

from __future__ import annotations

import cProfile
import re
import sys
import sysconfig
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import CodeType
from typing import Any

# Up to Python 3.11, cProfile hooks each thread on its own. From 3.12 it runs on sys.monitoring, which
# admits one profiler per interpreter: a second thread's `enable()` raises "Another profiling tool is
# already active" and only the first thread would be counted. So the profile needs Python 3.11.
PER_THREAD_PROFILES = sys.version_info < (3, 12)
PRODUCT_PACKAGES = ("connector", "coveo_push_api")
# The bench's own wrappers around product calls (bench/esm.py times the ledger through a proxy): a
# product function's call through them is a call of the product function behind them.
TRANSPARENT = frozenset({"esm"})
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
_SITE = ("site-packages", "dist-packages")
_BUILTIN = re.compile(
    r"<(?:built-in method (?P<qualified>[\w.]+)|method '\w+' of '(?P<owner>[\w.]+)' objects)>"
)


def library_of(filename: str) -> str:
    """The top-level package or stdlib module a source file belongs to."""
    path = Path(filename)
    parts = path.parts
    for marker in _SITE:
        if marker in parts:
            index = parts.index(marker)
            if index + 1 < len(parts):
                return _top(parts[index + 1])
    for product in PRODUCT_PACKAGES:
        if product in parts:
            return product
    try:
        relative = path.resolve().relative_to(_STDLIB)
    except ValueError:
        return path.stem if not filename.startswith("<") else filename
    return _top(relative.parts[0]) if relative.parts else path.stem


def _top(name: str) -> str:
    return name.removesuffix(".py").split(".")[0]


def library_of_builtin(label: str) -> str:
    """`<built-in method zlib.compress>` → `zlib`; `<method 'recv_into' of '_socket.socket' objects>`
    → `socket`; anything else → `C`."""
    match = _BUILTIN.match(label)
    if not match:
        return "C"
    dotted = match.group("qualified") or match.group("owner") or ""
    head = dotted.split(".")[0].lstrip("_") if "." in dotted else "builtins"
    return head or "C"


def _key(code: CodeType | str) -> tuple[str, str, str]:
    """(function name, library, module) of a profiler entry's code."""
    if isinstance(code, str):
        return code, library_of_builtin(code), ""
    library = library_of(code.co_filename)
    module = ""
    if library in PRODUCT_PACKAGES:
        parts = Path(code.co_filename).with_suffix("").parts
        module = ".".join(parts[parts.index(library) :])
    return f"{module or code.co_filename}:{code.co_qualname}", library, module


class ThreadCpuProfile:
    """`profile.start()`, work in any threads, `profile.stop()`, then `profile.consumers()`."""

    def __init__(self) -> None:
        self._profilers: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._main: cProfile.Profile | None = None

    def start(self) -> None:
        if not PER_THREAD_PROFILES:
            raise RuntimeError(
                "bench/cpu_profile.py needs Python 3.11: from 3.12 cProfile cannot run in every thread"
            )
        threading.setprofile(self._in_new_thread)
        self._main = self._new()
        self._main.enable()

    def _new(self) -> cProfile.Profile:
        profiler = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profilers.append(profiler)
        return profiler

    def _in_new_thread(self, frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        self._new().enable()  # replaces this hook in this thread

    def stop(self) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]
        if self._main is not None:
            self._main.disable()

    def profilers(self) -> list[cProfile.Profile]:
        """Every thread's profiler so far (for pstats)."""
        with self._lock:
            return list(self._profilers)

    def consumers(self) -> dict[str, Any]:
        """`{"cpu_s": total, "by_function": [{"function", "cpu_s", "libraries": {lib: s}}, ...]}`,
        most CPU first. Reading a profiler still enabled in a live thread is safe (its finished
        calls are counted)."""
        total = 0.0
        inclusive: defaultdict[str, float] = defaultdict(float)
        own: defaultdict[str, float] = defaultdict(float)
        called: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
        product: set[str] = set()
        with self._lock:
            profilers = list(self._profilers)
        for profiler in profilers:
            for entry in profiler.getstats():
                name, library, _ = _key(entry.code)
                total += entry.inlinetime
                if library not in PRODUCT_PACKAGES:
                    continue
                product.add(name)
                inclusive[name] += entry.totaltime
                own[name] += entry.inlinetime
                for call in entry.calls or ():
                    _, callee_library, _ = _key(call.code)
                    product_call = callee_library in PRODUCT_PACKAGES or callee_library in TRANSPARENT
                    target = "product" if product_call else callee_library
                    called[name][target] += call.totaltime
        rows = []
        for name in product:
            libraries = {lib: s for lib, s in called[name].items() if lib != "product" and s > 0}
            libraries["own code"] = own[name]
            exclusive = max(0.0, inclusive[name] - called[name].get("product", 0.0))
            rows.append({"function": name, "cpu_s": exclusive, "libraries": libraries})
        rows.sort(key=lambda row: row["cpu_s"], reverse=True)
        return {"cpu_s": total, "by_function": rows}


def describe(row: dict[str, Any], top_libraries: int = 3) -> str:
    """`DynamoDBLedger._claim (connector.adapters.dynamodb_ledger): botocore 81%, own code 4%`."""
    module, _, function = row["function"].rpartition(":")
    parts = sorted(row["libraries"].items(), key=lambda item: item[1], reverse=True)[:top_libraries]
    cpu = row["cpu_s"] or 1.0
    split = ", ".join(f"{lib} {seconds / cpu:.0%}" for lib, seconds in parts if seconds / cpu >= 0.01)
    return f"{function} ({module}): {split}"
