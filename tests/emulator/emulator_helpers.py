"""Raw-HTTP helpers for the emulator tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from coveo_emulator.config import EMAIL_SECURITY_PROVIDER

ORG = "mycoveocloudv2organizationg8tp8wu3"
SOURCE = "mysourceidg3c5d1r2"
PROVIDER = "mysecurityidentityprovider8d9s8d"
API_KEY = "xx-emulator-local-key"
EMAIL = EMAIL_SECURITY_PROVIDER
WORKED_ITEM = "file://folder/mytext.txt"


def w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Coveo:
    """Raw HTTP calls to the emulator, spelled as Coveo's routes (no product code involved)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        )
        self.push = f"/push/v1/organizations/{ORG}"
        self.source = f"{self.push}/sources/{SOURCE}"
        self.provider = f"{self.push}/providers/{PROVIDER}"
        self.rest = f"/rest/organizations/{ORG}"

    # --- Push API ---------------------------------------------------------------------------
    def put_item(self, document_id: str, body: dict[str, Any], **params: Any) -> httpx.Response:
        return self.http.put(
            f"{self.source}/documents", params={"documentId": document_id, **params}, json=body
        )

    def delete_item(self, document_id: str, **params: Any) -> httpx.Response:
        return self.http.delete(f"{self.source}/documents", params={"documentId": document_id, **params})

    def put_identity(self, body: dict[str, Any], **params: Any) -> httpx.Response:
        return self.http.put(f"{self.provider}/permissions", params=params, json=body)

    def put_mapping(self, body: dict[str, Any], **params: Any) -> httpx.Response:
        return self.http.put(f"{self.provider}/mappings", params=params, json=body)

    def delete_identity(self, body: dict[str, Any], **params: Any) -> httpx.Response:
        return self.http.request("DELETE", f"{self.provider}/permissions", params=params, json=body)

    def create_container(self) -> dict[str, Any]:
        response = self.http.post(f"{self.push}/files")
        assert response.status_code == 201, response.text
        return dict(response.json())

    def upload(self, content: bytes | dict[str, Any]) -> str:
        container = self.create_container()
        raw = content if isinstance(content, bytes) else json.dumps(content).encode()
        uploaded = httpx.put(container["uploadUri"], content=raw, headers=container["requiredHeaders"])
        assert uploaded.status_code == 200, uploaded.text
        return str(container["fileId"])

    def push_batch(self, content: bytes | dict[str, Any], **params: Any) -> httpx.Response:
        file_id = self.upload(content)
        return self.http.put(f"{self.source}/documents/batch", params={"fileId": file_id, **params})

    def push_identity_batch(self, content: bytes | dict[str, Any], **params: Any) -> httpx.Response:
        file_id = self.upload(content)
        return self.http.put(f"{self.provider}/permissions/batch", params={"fileId": file_id, **params})

    # --- verification -----------------------------------------------------------------------
    def logs_response(
        self,
        body: dict[str, Any] | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        **params: Any,
    ) -> httpx.Response:
        now = datetime.now(UTC)
        query = {
            "from": w3c(start or now - timedelta(days=3)),
            "to": w3c(end or now + timedelta(days=3)),
            **params,
        }
        return self.http.post(f"/logs/v1/organizations/{ORG}", params=query, json=body or {})

    def logs(
        self, document_id: str | None = None, body: dict[str, Any] | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """Every matching entry, following hasNextPage."""
        if document_id is not None:
            params["documentId"] = document_id
        entries: list[dict[str, Any]] = []
        page = 0
        while True:
            response = self.logs_response(body, page=page, perPage=100, **params)
            assert response.status_code == 200, response.text
            payload = response.json()
            entries += payload["documentLogEntries"]
            if not payload["hasNextPage"]:
                return entries
            page += 1

    def results(self, document_id: str) -> list[tuple[str, str]]:
        return [(e["task"], e["result"]) for e in self.logs(document_id)]

    def index_id(self) -> str:
        response = self.http.get(f"{self.rest}/indexes")
        assert response.status_code == 200
        return str(response.json()[0]["id"])

    def permissions_response(
        self, document_id: str, *, effective: bool = False, encode_twice: bool = True, **params: Any
    ) -> httpx.Response:
        encoded = quote(document_id, safe="")
        if encode_twice:
            encoded = quote(encoded, safe="")
        suffix = "/effective" if effective else ""
        return self.http.get(
            f"{self.rest}/indexes/{self.index_id()}/documents/{encoded}/permissions{suffix}", params=params
        )

    def effective(self, document_id: str) -> dict[str, bool]:
        """identity name -> allowed, for every user the item's permission model resolves to."""
        response = self.permissions_response(document_id, effective=True)
        assert response.status_code == 200, response.text
        return {row["identity"]: row["allowed"] for row in response.json()["items"]}

    def entity(self, name: str, identity_type: str = "User", provider: str = PROVIDER) -> httpx.Response:
        return self.http.post(
            f"{self.rest}/securitycache/entities/{quote(provider, safe='')}/entity",
            json={"name": name, "type": identity_type, "provider": provider},
        )

    def state(self, **params: Any) -> dict[str, Any]:
        return dict(self.http.get("/_emulator/state", params=params).json())

    def item(self, document_id: str) -> dict[str, Any] | None:
        found = self.state(documentId=document_id)["items"].get(document_id)
        return dict(found) if found is not None else None

    def found(self, document_id: str) -> dict[str, Any]:
        """The index record of an item (indexed or tombstone) that must exist."""
        record = self.item(document_id)
        assert record is not None, f"{document_id} is not in the index"
        return record

    def identities(self, provider: str = PROVIDER) -> dict[str, dict[str, Any]]:
        return {i["name"]: i for i in self.state(provider=provider)["identities"].get(provider, [])}

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_emulator/stats").json())

    def set_faults(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.put("/_emulator/faults", json=body)

    def reset(self, **body: Any) -> None:
        assert self.http.post("/_emulator/reset", json=body).status_code == 200

    def advance(self, seconds: float) -> None:
        assert self.http.post("/_emulator/clock", json={"advanceSeconds": seconds}).status_code == 200


def user(name: str, provider: str | None = None) -> dict[str, str]:
    out = {"identity": name, "identityType": "User"}
    if provider:
        out["securityProvider"] = provider
    return out


def group(name: str) -> dict[str, str]:
    return {"identity": name, "identityType": "Group"}


def item_body(
    *, allowed: list[dict[str, str]] | None = None, denied: list[dict[str, str]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "title": "An item",
        "data": "Some text",
        "permissions": [
            {"allowAnonymous": False, "allowedPermissions": allowed or [], "deniedPermissions": denied or []}
        ],
        **extra,
    }


PUBLIC = [{"allowAnonymous": True, "allowedPermissions": [], "deniedPermissions": []}]
