"""An S3-compatible server on 127.0.0.1 for tests and benchmarks: moto in server mode.

Steps (local processes, or pods run by :mod:`workbench.testing.k8s_server`) reach it over real
HTTP with boto3, like a MinIO in a cluster. Needs ``moto[server]`` (a dev dependency).

Example::

    with S3Server() as s3:
        s3.create_bucket("artifacts")
        os.environ.update(s3.env())        # WORKBENCH_S3_ENDPOINT_URL and test credentials
        ...
        s3.keys("artifacts")               # what the steps uploaded
"""

from __future__ import annotations

import urllib.request
from typing import Any

#: Credentials the server accepts (any are); never real ones.
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "workbench-test", "AWS_SECRET_ACCESS_KEY": "workbench-test-secret"}


class S3Server:
    """moto's S3 server on a free port of 127.0.0.1 (state reset at start)."""

    def __init__(self) -> None:
        self._server: Any = None
        self.url = ""

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto's backends are per process: forget what an earlier server of this process stored.
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The environment a step or the controller needs to reach this server."""
        return {"WORKBENCH_S3_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": "us-east-1", **TEST_CREDENTIALS}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])  # fmt: skip

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``, sorted."""
        out: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def metadata(self, bucket: str, key: str) -> dict[str, str]:
        return self.client().head_object(Bucket=bucket, Key=key).get("Metadata") or {}


__all__ = ["TEST_CREDENTIALS", "S3Server"]
