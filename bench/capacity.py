"""DynamoDB capacity as AWS bills it, from item images: the arithmetic of the bench's meter.

Pure functions over items in DynamoDB's wire format (`{"name": {"S": "..."}}`), plus `Meter`,
the thread-safe totals that bench/moto_server.py keeps while moto answers. Nothing here knows the
ledger's layout: tables, keys and indexes come from the table's own description (moto's, at run
time), and an item's kind is its partition key up to the first '#'.

The rules, from the Amazon DynamoDB Developer Guide:

- "DynamoDB item sizes and formats" (CapacityUnitCalculations): an item's size is the UTF-8 length
  of its attribute names plus the size of their values. A string is its UTF-8 bytes; a number
  about 1 byte per two significant digits plus 1 (leading and trailing zeros trimmed); a binary
  its raw bytes (not base64); null and Boolean 1 byte; a List or Map 3 bytes plus 1 byte per
  element plus its elements (a Map's names count). Storage adds 100 bytes per item for indexing.
- "DynamoDB read and write operations" (read-write-operations): a write is billed in 1 KB units
  (rounded up) of the item's size; PutItem and UpdateItem on the larger of the item before and
  after, DeleteItem on the deleted item's size; BatchWriteItem as each put or delete alone; a
  delete of an item that is not there costs 1 unit; a write whose condition fails still consumes
  write units (here: the existing item's size, at least 1 unit; the new image of a failed
  UpdateItem is never built, so it cannot be weighed). Transactional writes cost two units per KB.
  A read is billed in 4 KB units: GetItem, and each key of BatchGetItem, on the whole item's size
  (a ProjectionExpression does not change it; a missing item still costs a unit); Query and Scan
  on the sum of the items they read (before any filter) per request, rounded up once, at least one
  unit. An eventually consistent read costs half; a transactional one twice.
- "Using Global Secondary Indexes in DynamoDB" (GSI.html: "Provisioned throughput considerations"
  and "Storage considerations"): an index is written only when the table write touches it: an
  item entering the index is one put, leaving it one delete, a change of an index key value a
  delete plus a put, a change of projected attributes alone one write; no index write otherwise.
  Each is billed in 1 KB units of the index entry: the index keys, the table keys and the
  projected attributes (ALL, KEYS_ONLY or INCLUDE). A GSI query is eventually consistent and reads
  index entries. Index storage: the entry plus 100 bytes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

KB = 1024
WRITE_UNIT_BYTES = KB
READ_UNIT_BYTES = 4 * KB
STORAGE_OVERHEAD_BYTES = 100  # per item, in the table and in each index holding it
NO_KIND = "-"  # a partition key without '#'

Item = Mapping[str, Mapping[str, Any]]


# --- sizes -------------------------------------------------------------------------------------------


def _utf8(text: str | bytes) -> int:
    return len(text) if isinstance(text, bytes | bytearray) else len(text.encode("utf-8"))


def number_size(text: str) -> int:
    """About 1 byte per two significant digits, plus 1 (leading and trailing zeros trimmed)."""
    mantissa = text.strip().lstrip("+-").lower().split("e", 1)[0]
    digits = mantissa.replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1 if digits else 1


def binary_size(value: str | bytes) -> int:
    """Raw bytes: moto keeps a top-level binary as the base64 text it received."""
    if isinstance(value, bytes | bytearray):
        return len(value)
    text = value.strip()
    return len(text) * 3 // 4 - text[-2:].count("=")


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value in wire format (without its name)."""
    (kind, raw), *_ = value.items()
    if kind == "S":
        return _utf8(raw)
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(v) for v in raw)
    if kind == "NS":
        return sum(number_size(v) for v in raw)
    if kind == "BS":
        return sum(binary_size(v) for v in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + _utf8(k) + value_size(v) for k, v in raw.items())
    raise ValueError(f"not a DynamoDB attribute value: {kind!r}")


def item_size(item: Item | None) -> int:
    """Attribute names' UTF-8 bytes plus their values' sizes; 0 for no item."""
    if not item:
        return 0
    return sum(_utf8(name) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """1 KB units, rounded up; a write always costs at least one."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    """4 KB units, rounded up (at least one); half for an eventually consistent read."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def kind_of(value: Mapping[str, Any] | str | None) -> str:
    """A partition key's item kind: its value up to the first '#' ("item#doc-1" -> "item")."""
    if isinstance(value, Mapping):
        value = next(iter(value.values()), None)
    if not isinstance(value, str) or "#" not in value:
        return NO_KIND
    return value.split("#", 1)[0] or NO_KIND


# --- table and index shapes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]  # the index's own key attributes (HASH, then RANGE)
    projection: str = "ALL"  # ALL, KEYS_ONLY or INCLUDE
    non_key: tuple[str, ...] = ()  # INCLUDE's NonKeyAttributes
    is_global: bool = True

    @classmethod
    def from_description(cls, description: Mapping[str, Any], *, is_global: bool = True) -> Index:
        projection = description.get("Projection") or {}
        return cls(
            name=description["IndexName"],
            keys=_key_names(description["KeySchema"]),
            projection=projection.get("ProjectionType", "ALL"),
            non_key=tuple(projection.get("NonKeyAttributes") or ()),
            is_global=is_global,
        )

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The item as this index holds it, or None when the item is not in the index (an index
        key attribute is missing: the index is sparse)."""
        if not item or any(name not in item for name in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        wanted = {*table_keys, *self.keys}
        if self.projection == "INCLUDE":
            wanted.update(self.non_key)
        return {name: value for name, value in item.items() if name in wanted}

    def key_of(self, entry: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(_comparable(entry[name]) for name in self.keys)


@dataclass(frozen=True)
class TableShape:
    keys: tuple[str, ...]  # HASH, then RANGE
    indexes: tuple[Index, ...] = ()

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> TableShape:
        """From DescribeTable's `Table` (or CreateTable's request): KeySchema and the indexes."""
        indexes = [Index.from_description(d) for d in description.get("GlobalSecondaryIndexes") or ()]
        indexes += [
            Index.from_description(d, is_global=False) for d in description.get("LocalSecondaryIndexes") or ()
        ]
        return cls(keys=_key_names(description["KeySchema"]), indexes=tuple(indexes))

    def kind(self, item: Item | None) -> str:
        return kind_of(item.get(self.keys[0]) if item else None)


def _key_names(schema: Iterable[Mapping[str, str]]) -> tuple[str, ...]:
    ordered = sorted(schema, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
    return tuple(k["AttributeName"] for k in ordered)


def _comparable(value: Mapping[str, Any]) -> tuple[str, Any]:
    (kind, raw), *_ = value.items()
    return kind, raw


# --- bills ---------------------------------------------------------------------------------------------


@dataclass
class WriteBill:
    wru: float  # the table's write units
    index_wru: dict[str, float] = field(default_factory=dict)  # per index, only those written
    bytes_written: int = 0  # the table item's size after the write
    failed: bool = False


def index_write_units(index: Index, table: TableShape, before: Item | None, after: Item | None) -> int:
    """What one table write costs this index: a put, a delete, both, one update, or nothing."""
    old, new = index.entry(before, table.keys), index.entry(after, table.keys)
    if old is None and new is None:
        return 0
    if old is None:
        return write_units(item_size(new))  # enters the index: a put
    if new is None:
        return write_units(item_size(old))  # leaves it: a delete
    if index.key_of(old) != index.key_of(new):  # a key change: a delete and a put
        return write_units(item_size(old)) + write_units(item_size(new))
    if old == new:  # nothing the index projects changed
        return 0
    return write_units(max(item_size(old), item_size(new)))


def bill_write(
    table: TableShape, before: Item | None, after: Item | None, *, transactional: bool = False
) -> WriteBill:
    """A PutItem, UpdateItem or DeleteItem that succeeded: before and after are the whole item
    (None where there is none). The table bills the larger image; each index what it had to do."""
    factor = 2 if transactional else 1
    size = max(item_size(before), item_size(after))
    indexes = {}
    for index in table.indexes:
        units = index_write_units(index, table, before, after)
        if units:
            indexes[index.name] = float(units * factor)
    return WriteBill(float(write_units(size) * factor), indexes, item_size(after))


def bill_failed_write(existing: Item | None, *, transactional: bool = False) -> WriteBill:
    """A write whose condition failed: the existing item's size (at least one unit); no index."""
    factor = 2 if transactional else 1
    return WriteBill(float(write_units(item_size(existing)) * factor), failed=True)


def bill_item_read(item: Item | None, *, consistent: bool, transactional: bool = False) -> float:
    """GetItem, one key of BatchGetItem or TransactGetItems: the whole item, 4 KB units."""
    if transactional:
        return read_units(item_size(item), consistent=True) * 2
    return read_units(item_size(item), consistent=consistent)


def bill_query(sizes: Iterable[int], *, consistent: bool) -> float:
    """Query or Scan: the items it read, summed, then rounded up to 4 KB once per request."""
    return read_units(sum(sizes), consistent=consistent)


# --- storage -------------------------------------------------------------------------------------------


def storage(
    table: TableShape, items: Iterable[Item], *, ttl_attribute: str | None, now_s: float
) -> dict[str, Any]:
    """What a table holds: items and bytes (with the 100-byte overhead) in the table and in each
    index, and the mean time left before the TTL attribute expires the rows that have one."""
    count = table_bytes = 0
    index_count = dict.fromkeys((i.name for i in table.indexes), 0)
    index_bytes = dict.fromkeys((i.name for i in table.indexes), 0)
    lsi_bytes = 0
    ttl_left: list[float] = []
    for item in items:
        count += 1
        table_bytes += item_size(item) + STORAGE_OVERHEAD_BYTES
        for index in table.indexes:
            entry = index.entry(item, table.keys)
            if entry is not None:
                index_count[index.name] += 1
                size = item_size(entry) + STORAGE_OVERHEAD_BYTES
                index_bytes[index.name] += size
                if not index.is_global:
                    lsi_bytes += size
        expires = item.get(ttl_attribute) if ttl_attribute else None
        if expires and "N" in expires:
            ttl_left.append(float(expires["N"]) - now_s)
    return {
        "items": count,
        "table_bytes": table_bytes,
        "indexes": {
            index.name: {
                "global": index.is_global,
                "projection": index.projection,
                "items": index_count[index.name],
                "bytes": index_bytes[index.name],
            }
            for index in table.indexes
        },
        # PITR is billed on the table's size with its local secondary indexes (not its GSIs).
        "pitr_bytes": table_bytes + lsi_bytes,
        "ttl_attribute": ttl_attribute,
        "items_with_ttl": len(ttl_left),
        "ttl_days_mean": round(sum(ttl_left) / len(ttl_left) / 86400, 3) if ttl_left else None,
    }


# --- the meter -----------------------------------------------------------------------------------------


class Meter:
    """Totals per (table, operation, index, kind) and per (bucket, operation); thread-safe.

    `lock` is also what moto_server.py holds around a write, so the before and after images it
    reads are the write's own.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._dynamodb: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._s3: dict[tuple[str, str], dict[str, int]] = {}

    def write(self, table: str, operation: str, kind: str, bill: WriteBill) -> None:
        with self.lock:
            entry = self._entry(table, operation, "", kind)
            entry["requests"] += 1
            entry["items"] += 1
            entry["wru"] += bill.wru
            entry["failed_conditions"] += bill.failed
            entry["bytes_written"] += bill.bytes_written
            for name, units in bill.index_wru.items():
                entry["index_wru"][name] = entry["index_wru"].get(name, 0.0) + units

    def read(
        self,
        table: str,
        operation: str,
        kind: str,
        *,
        rru: float,
        items: int,
        read_bytes: int,
        index: str = "",
    ) -> None:
        with self.lock:
            entry = self._entry(table, operation, index, kind)
            entry["requests"] += 1
            entry["items"] += items
            entry["rru"] += rru
            entry["bytes_read"] += read_bytes

    def s3(self, bucket: str, operation: str, size: int) -> None:
        with self.lock:
            entry = self._s3.setdefault((bucket, operation), {"requests": 0, "bytes": 0})
            entry["requests"] += 1
            entry["bytes"] += size

    def _entry(self, table: str, operation: str, index: str, kind: str) -> dict[str, Any]:
        return self._dynamodb.setdefault(
            (table, operation, index, kind),
            {
                "operation": operation,
                "index": index or None,
                "kind": kind,
                "requests": 0,
                "items": 0,
                "wru": 0.0,
                "index_wru": {},
                "rru": 0.0,
                "failed_conditions": 0,
                "bytes_written": 0,
                "bytes_read": 0,
            },
        )

    def reset(self) -> None:
        with self.lock:
            self._dynamodb.clear()
            self._s3.clear()

    def snapshot(self) -> dict[str, Any]:
        """{"tables": {name: {"operations": [...]}}, "buckets": {name: {"operations": {...}}}}."""
        with self.lock:
            tables: dict[str, Any] = {}
            for (table, *_), entry in sorted(self._dynamodb.items()):
                tables.setdefault(table, {"operations": []})["operations"].append(
                    {**entry, "index_wru": dict(entry["index_wru"])}
                )
            buckets: dict[str, Any] = {}
            for (bucket, operation), entry in sorted(self._s3.items()):
                buckets.setdefault(bucket, {"operations": {}})["operations"][operation] = dict(entry)
            return {"tables": tables, "buckets": buckets}
