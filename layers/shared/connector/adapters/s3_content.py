"""Fetching item content that upstream put in S3 (`data.contentRef`)."""

from __future__ import annotations

from typing import Any

from ..domain.errors import ContentNotFound

# S3's answers that mean "that object is not there", as opposed to "S3 cannot answer now".
MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound", "InvalidBucketName", "KeyTooLongError"})


class S3Content:
    def __init__(self, client: Any) -> None:
        self._s3 = client

    def fetch(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in MISSING:
                raise ContentNotFound(
                    f"data.contentRef {uri!r} names no object ({code}): upload the content before "
                    "sending the event, or fix the bucket or key"
                ) from None
            raise
        body: bytes = response["Body"].read()
        return body
