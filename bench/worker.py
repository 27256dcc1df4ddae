"""Entry point of a measured process: `python -m bench.worker <module>:<function> <spec-json> <result-path>`.

One scenario per process, so the peak RSS reported is that scenario's alone. Modules import their
heavy dependencies inside the function, so a contender only pays for what it uses.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from .common import peak_rss_mb


def main(argv: list[str]) -> int:
    target, spec, result_path = argv
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(f"bench.{module_name}"), function_name)
    result = function(json.loads(spec))
    result["peak_rss_mb"] = peak_rss_mb()
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
