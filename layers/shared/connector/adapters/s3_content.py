"""Fetching item content that upstream put in S3 (`data.contentRef`)."""

from __future__ import annotations

from typing import Any


class S3Content:
    def __init__(self, client: Any) -> None:
        self._s3 = client

    def fetch(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        response = self._s3.get_object(Bucket=bucket, Key=key)
        body: bytes = response["Body"].read()
        return body
