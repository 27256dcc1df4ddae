"""moto's threaded server on 127.0.0.1 and a free port: the AWS services of the local simulator
(SQS, DynamoDB, S3, Secrets Manager, CloudWatch), reached by clients that carry the endpoint, fake
credentials and the region explicitly.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, Self

import boto3
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
# Fake, fixed credentials: handed to every client explicitly so nothing reads or writes AWS_* env vars.
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - moto accepts anything; this is not a secret


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port, as a context manager.

    It sets no environment variable: clients from `client()` get the endpoint, fake credentials
    and region explicitly. The one global it touches: with `quiet` (the default) the `werkzeug`
    logger is raised to WARNING while the server runs, or every request prints a line to stderr.
    Caveat: moto keeps its state per process, so an in-process `moto.mock_aws` started while this
    server runs wipes this server's state too.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        self._host = host
        self._port = port
        self._quiet = quiet
        self._werkzeug_level: int | None = None
        self._session: Any = None
        self._session_lock = threading.Lock()
        self._server: Any = None
        self._endpoint_url: str | None = None
        self.region = REGION
        self.account_id = ACCOUNT_ID

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("MotoServer is not started")
        return self._endpoint_url

    def start(self) -> Self:
        # Imported here: moto.server pulls in flask and every backend (~0.6 s), and only this needs it.
        from moto.server import ThreadedMotoServer

        from . import moto_patches

        # moto's hot spots, fixed without changing its answers (see moto_patches); once per process.
        moto_patches.apply()

        if self._quiet:
            werkzeug = logging.getLogger("werkzeug")
            self._werkzeug_level = werkzeug.level
            werkzeug.setLevel(max(werkzeug.level, logging.WARNING))
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None
        self._endpoint_url = None
        if self._werkzeug_level is not None:
            logging.getLogger("werkzeug").setLevel(self._werkzeug_level)
            self._werkzeug_level = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def client(self, service: str, config: Config | None = None, **options: Any) -> Any:
        """A boto3 client bound to this server, called like `boto3.client(service, config=...)`;
        `options` are botocore Config fields. S3 signs with SigV4 so presigned URLs are v4."""
        if service == "s3":
            options.setdefault("signature_version", "s3v4")
        # One session for every client: it caches the service models (a fresh session re-reads
        # ~20 MB of JSON). Sessions are not thread-safe, hence the lock; the clients are.
        with self._session_lock:
            if self._session is None:
                self._session = boto3.session.Session()
            return self._session.client(
                service,
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=FAKE_ACCESS_KEY_ID,
                aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
                config=Config(**options).merge(config) if config else Config(**options),
            )
