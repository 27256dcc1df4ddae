"""What every benchmark shares: the servers, a moto client factory that counts calls, workers."""

from __future__ import annotations

import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
LAYER = ROOT / "layers" / "shared"
FUNCTIONS = ROOT / "functions"
API_KEY = "bench-api-key-0c7e2b"  # the emulator's key: a local stand-in, not a secret
ORG = "mycoveocloudv2organizationg8tp8wu3"
SOURCE = "mysourceidg3c5d1r2"
PROVIDER = "mysecurityidentityprovider8d9s8d"
REGION = "us-east-1"
SQS_CHUNK_BYTES = 64 * 1024  # SQS bills every 64 KB of a request's payload as one request


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def peak_rss_mb() -> float:
    """This process's own high-water RSS. Not getrusage's ru_maxrss: Linux carries that across
    fork and exec, so a worker would report its parent's peak whenever the parent's is higher."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- servers, each in its own process -----------------------------------------------------------------


# The environment variable that sends every bench client's SQS calls to moto's second process (set
# by Servers for the workers it starts; RemoteMoto reads it).
SQS_ENDPOINT_ENV = "BENCH_SQS_ENDPOINT_URL"


class Servers:
    """moto and the Coveo emulator as child processes: none shares a GIL with the measured work.

    moto runs twice: SQS in a process of its own, DynamoDB, S3 and the rest in another (with the
    capacity meter). They are separate services in AWS; in one moto process, a queue's receives
    would wait behind the ledger's writes for the same interpreter (bench/README.md)."""

    def __init__(self) -> None:
        self.moto_url = ""
        self.sqs_url = ""
        self.coveo_url = ""
        self._processes: list[subprocess.Popen[bytes]] = []
        self._previous_sqs_env: str | None = None

    def __enter__(self) -> Servers:
        moto_port, coveo_port, sqs_port = free_port(), free_port(), free_port()
        self._spawn([sys.executable, "-m", "bench.moto_server", str(moto_port)])
        self._spawn(
            [
                sys.executable,
                "-m",
                "coveo_emulator",
                "--port",
                str(coveo_port),
                "--api-key",
                API_KEY,
                "--log-level",
                "warning",
            ]
        )
        self._spawn([sys.executable, "-m", "bench.moto_server", str(sqs_port)])
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        self.coveo_url = f"http://127.0.0.1:{coveo_port}"
        self.sqs_url = f"http://127.0.0.1:{sqs_port}"
        _wait_until_up(f"{self.moto_url}/moto-api/", self._processes[0])
        _wait_until_up(f"{self.coveo_url}/_emulator/health", self._processes[1])
        _wait_until_up(f"{self.sqs_url}/moto-api/", self._processes[2])
        self._previous_sqs_env = os.environ.get(SQS_ENDPOINT_ENV)
        os.environ[SQS_ENDPOINT_ENV] = self.sqs_url  # the workers started from here inherit it
        return self

    def _spawn(self, command: list[str]) -> None:
        self._processes.append(
            subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        )

    def __exit__(self, *exc: object) -> None:
        if self._previous_sqs_env is None:
            os.environ.pop(SQS_ENDPOINT_ENV, None)
        else:
            os.environ[SQS_ENDPOINT_ENV] = self._previous_sqs_env
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def server_pids(self) -> dict[str, int]:
        return {
            "moto": self._processes[0].pid,
            "emulator": self._processes[1].pid,
            "moto_sqs": self._processes[2].pid,
        }


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"server at {url} did not start") from None
            time.sleep(0.1)


def capacity(moto_url: str, *, tables: Iterable[str] = (), buckets: Iterable[str] = ()) -> dict[str, Any]:
    """What the moto server metered (bench/moto_server.py): DynamoDB units per operation and S3
    requests per table and bucket, with what each holds now; `tables`/`buckets` narrow it."""
    import httpx

    params = [("table", name) for name in tables] + [("bucket", name) for name in buckets]
    response = httpx.get(f"{moto_url}/_bench/capacity", params=params, timeout=120)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def reset_capacity(moto_url: str) -> None:
    """Zero the moto server's meter (totals are kept per table and bucket, so runs that provision
    their own need no reset)."""
    import httpx

    httpx.delete(f"{moto_url}/_bench/capacity", timeout=30).raise_for_status()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emulator(base_url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    import httpx

    response = httpx.request(method, f"{base_url}/_emulator/{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


# --- AWS on the moto server, with every call counted ----------------------------------------------------


class CallCounter:
    """Counts AWS calls by operation, and what the cost model needs: SQS billed requests, DynamoDB keys."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sqs_billed_requests = 0
        self.dynamodb_keys_read = 0
        self.dynamodb_updates = 0

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build", self._before)
        events.register("after-call.sqs.ReceiveMessage", self._after_receive)

    def _before(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        name = f"{service}.{model.name}"
        self.calls[name] += 1
        if service == "sqs" and model.name in ("SendMessage", "SendMessageBatch"):
            bodies = [params["MessageBody"]] if "MessageBody" in params else params.get("Entries", [])
            size = sum(len(b if isinstance(b, str) else b["MessageBody"]) for b in bodies)
            self.sqs_billed_requests += max(1, math.ceil(size / SQS_CHUNK_BYTES))
        elif service == "sqs" and model.name != "ReceiveMessage":
            self.sqs_billed_requests += 1
        elif name == "dynamodb.BatchGetItem":
            self.dynamodb_keys_read += sum(len(t["Keys"]) for t in params["RequestItems"].values())
        elif name == "dynamodb.UpdateItem":
            self.dynamodb_updates += 1

    def _after_receive(self, parsed: Mapping[str, Any], **_: Any) -> None:
        size = sum(len(m.get("Body", "")) for m in parsed.get("Messages", []))
        self.sqs_billed_requests += max(1, math.ceil(size / SQS_CHUNK_BYTES))

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": dict(sorted(self.calls.items())),
            "sqsBilledRequests": self.sqs_billed_requests,
            "dynamodbKeysRead": self.dynamodb_keys_read,
            "dynamodbUpdates": self.dynamodb_updates,
        }


class RemoteMoto:
    """What LocalStack and provision_from_template need of a MotoServer, for one running elsewhere."""

    def __init__(
        self,
        endpoint_url: str,
        counter: CallCounter | None = None,
        *,
        dynamodb_latency_ms: float = 0,
        latency_ms_by_service: Mapping[str, float] | None = None,
        max_pool_connections: int = 10,
    ) -> None:
        import threading

        self.endpoint_url = endpoint_url
        # What each call of a service waits before it is sent: the network round trip and the
        # service's own time that loopback to moto does not have (bench/README.md, "latency").
        self.latency_ms = dict(latency_ms_by_service or {})
        if dynamodb_latency_ms:
            self.latency_ms["dynamodb"] = dynamodb_latency_ms
        self.max_pool_connections = max_pool_connections
        self.region = REGION
        self.account_id = "123456789012"
        self.counter = counter
        self._session: Any = None
        self._lock = threading.Lock()

    def client(self, service: str, config: Any = None, **options: Any) -> Any:
        """Like `boto3.client(service, config=...)`; `options` are botocore Config fields."""
        import boto3
        from botocore.config import Config

        base = config
        config = options

        if service == "s3":
            config.setdefault("signature_version", "s3v4")
        config.setdefault("retries", {"max_attempts": 2, "mode": "standard"})
        config.setdefault("max_pool_connections", self.max_pool_connections)
        with self._lock:  # one session: a fresh one re-reads the service models (slow, ~20 MB)
            if self._session is None:
                self._session = boto3.session.Session()
            endpoint = self.endpoint_url
            if service == "sqs" and os.environ.get(SQS_ENDPOINT_ENV):
                endpoint = os.environ[SQS_ENDPOINT_ENV]
            client = self._session.client(
                service,
                endpoint_url=endpoint,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - moto takes anything
                config=Config(**config).merge(base) if base else Config(**config),
            )
        if self.counter is not None:
            self.counter.attach(client)
        if self.latency_ms.get(service):
            # Stands for the round trip to the service that loopback to moto does not have: each
            # HTTP attempt waits in its own thread, so calls made in parallel wait in parallel.
            delay = self.latency_ms[service] / 1000
            client.meta.events.register("before-send", lambda **_: time.sleep(delay))
        return client


def resources_to_json(resources: Any) -> dict[str, Any]:
    return asdict(resources)


def resources_from_json(data: Mapping[str, Any]) -> Any:
    from aws_simulator.cloudformation import LocalResources, QueueResource

    return LocalResources(
        queues={k: QueueResource(**v) for k, v in data["queues"].items()},
        tables=dict(data["tables"]),
        buckets=dict(data["buckets"]),
        api_key_secret_name=data["api_key_secret_name"],
        api_key_secret_arn=data["api_key_secret_arn"],
    )


# --- workers --------------------------------------------------------------------------------------------


def run_worker(function: str, spec: Mapping[str, Any], timeout_s: float = 600) -> dict[str, Any]:
    """Run `module:function(spec)` in a fresh interpreter; returns its result plus its stdout size.

    The worker writes its result to a file: its stdout is the handler's log stream (Powertools
    writes JSON lines there), whose size the cost model prices as CloudWatch Logs ingestion.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        log_path = Path(tmp) / "stdout.log"
        command = [sys.executable, "-m", "bench.worker", function, json.dumps(spec), str(result_path)]
        with open(log_path, "wb") as stdout:
            completed = subprocess.run(  # noqa: S603 - our own interpreter and module
                command, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout_s, check=False
            )
        if completed.returncode != 0 or not result_path.exists():
            tail = completed.stderr.decode(errors="replace")[-3000:]
            raise RuntimeError(f"worker {function} failed (rc={completed.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(result_path.read_text())
        result["stdout_bytes"] = log_path.stat().st_size
        return result


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started
