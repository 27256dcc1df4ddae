"""What the ledger keeps of each accepted change, in S3: one object per acceptance (a batch push, or
one change pushed alone), written once, read by the validator and by re-pushes, expired by the
bucket's lifecycle rule. S3 bills a PUT per object and storage at a tenth of DynamoDB's: a 1 MB
item's stored change costs cents here and dollars in a row."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections import OrderedDict
from typing import Any

PREFIX = "ledger/"


class S3LedgerEntries:
    def __init__(self, client: Any, bucket: str, *, cache_objects: int = 64) -> None:
        self._s3 = client
        self._bucket = bucket
        self._cache: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._cache_objects = cache_objects
        self._lock = threading.Lock()

    def put(self, batch: str, entries: list[dict[str, Any]]) -> str:
        key = f"{PREFIX}{batch}/{uuid.uuid4().hex}.json.gz"
        body = gzip.compress(json.dumps(entries, separators=(",", ":")).encode(), compresslevel=6)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        self._remember(key, entries)
        return key

    def get(self, name: str) -> list[dict[str, Any]]:
        """The object's entries; objects never change, so they are cached (the validator reads the
        same object for every part of a batch)."""
        with self._lock:
            if name in self._cache:
                self._cache.move_to_end(name)
                return self._cache[name]
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=name)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return []  # expired with its ledger rows (the lifecycle rule matches the ledger's TTL)
        entries: list[dict[str, Any]] = json.loads(gzip.decompress(body))
        self._remember(name, entries)
        return entries

    def _remember(self, key: str, entries: list[dict[str, Any]]) -> None:
        with self._lock:
            self._cache[key] = entries
            while len(self._cache) > self._cache_objects:
                self._cache.popitem(last=False)
