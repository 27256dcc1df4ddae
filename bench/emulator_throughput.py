"""How many small single pushes per second the emulator serves.

Starts `python -m coveo_emulator` in its own process (one event loop: one core), sends N small
`PUT …/documents` over keep-alive connections, checks that every one was answered 202 and indexed,
and reports requests per second of wall time and per second of the server's CPU time.

    .venv/bin/python bench/emulator_throughput.py --requests 20000 --concurrency 32
    .venv/bin/python bench/emulator_throughput.py --client httpx --requests 5000

``--client raw`` (default) is a minimal asyncio HTTP/1.1 client, so that on a 2-core machine the
client does not starve the server; ``--client httpx`` uses a pooled httpx.AsyncClient (closer to
the product, but the client itself then costs more CPU than the server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import quote

import httpx

ORG = "mycoveocloudv2organizationg8tp8wu3"
SOURCE = "mysourceidg3c5d1r2"
KEY = "xx-emulator-local-key"
PATH = f"/push/v1/organizations/{ORG}/sources/{SOURCE}/documents"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _body(i: int) -> bytes:
    return json.dumps(
        {
            "title": f"Item {i}",
            "data": f"small body {i}",
            "permissions": [
                {"allowAnonymous": False, "allowedPermissions": [{"identity": "*@*", "identityType": "User"}]}
            ],
        }
    ).encode()


def _request(i: int, host: str) -> bytes:
    document_id = quote(f"file://bench/item-{i}.txt", safe="")
    body = _body(i)
    head = (
        f"PUT {PATH}?documentId={document_id} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _raw_worker(host: str, port: int, ids: list[int], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    for i in ids:
        writer.write(_request(i, f"{host}:{port}"))
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await reader.readexactly(length)
        statuses.append(status)
    writer.close()


async def _httpx_worker(client: httpx.AsyncClient, ids: list[int], statuses: list[int]) -> None:
    for i in ids:
        response = await client.put(
            PATH,
            params={"documentId": f"file://bench/item-{i}.txt"},
            content=_body(i),
            headers={"Content-Type": "application/json"},
        )
        statuses.append(response.status_code)


async def _run(args: argparse.Namespace, host: str, port: int) -> list[int]:
    statuses: list[int] = []
    chunks = [list(range(w, args.requests, args.concurrency)) for w in range(args.concurrency)]
    if args.client == "raw":
        await asyncio.gather(*(_raw_worker(host, port, c, statuses) for c in chunks))
    else:
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://{host}:{port}", headers={"Authorization": f"Bearer {KEY}"}, limits=limits
        ) as client:
            await asyncio.gather(*(_httpx_worker(client, c, statuses) for c in chunks))
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--warmup", type=int, default=500, help="requests sent before measuring")
    args = parser.parse_args(argv)

    host, port = "127.0.0.1", _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "coveo_emulator", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )
    try:
        base = f"http://{host}:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{base}/_emulator/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the emulator did not start") from None
                time.sleep(0.05)
        if args.warmup:
            warm = argparse.Namespace(**{**vars(args), "requests": args.warmup})
            asyncio.run(_run(warm, host, port))
            httpx.post(f"{base}/_emulator/reset").raise_for_status()

        cpu_before = _cpu_seconds(server.pid)
        started = time.perf_counter()
        statuses = asyncio.run(_run(args, host, port))
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(server.pid) - cpu_before

        state = httpx.get(f"{base}/_emulator/state", timeout=120).json()
        stats = httpx.get(f"{base}/_emulator/stats").json()
        indexed = sum(1 for item in state["items"].values() if item["indexed"])
        result: dict[str, Any] = {
            "client": args.client,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "status202": statuses.count(202),
            "indexed": indexed,
            "serverCounted": stats["total"],
            "seconds": round(elapsed, 3),
            "requestsPerSecond": round(args.requests / elapsed),
            "serverCpuSeconds": round(cpu, 3),
            "requestsPerServerCpuSecond": round(args.requests / cpu) if cpu else None,
        }
        print(json.dumps(result, indent=2))
        ok = result["status202"] == args.requests == indexed == stats["total"]
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
