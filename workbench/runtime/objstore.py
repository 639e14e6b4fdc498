"""Object-store artifacts (S3-compatible): the wrapper a step pod runs, and the store client.

When the Kubernetes backend keeps artifacts in an object store (``kubernetes.artifactStore =
"s3://bucket/prefix"``) instead of a shared volume, each step pod runs its command through this
wrapper::

    python -m workbench.runtime.objstore --in PATH=URI ... --out PATH=URI ... -- COMMAND ...

It downloads every input ``URI`` to a private staging folder, runs ``COMMAND`` with each ``PATH``
replaced by its staged copy (in every argument, also inside longer strings such as
``--data=PATH`` or a Python component's JSON), then uploads each output that exists (also when
the command failed) to its ``URI``. Standard input, output and error are the command's own (the
metrics collector reads them unchanged); the exit code is the command's (``128 + N`` when signal
``N`` ended it). A problem with the store itself (no bucket, endpoint down, no credentials, an
input missing) is one line on stderr starting with ``workbench objstore:`` and exit code
:data:`STORE_ERROR_EXIT`.

Settings come from the environment: ``WORKBENCH_S3_ENDPOINT_URL`` (MinIO, Ceph, moto, ...; unset:
AWS), ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (in a pod: from a Secret, never literal),
``AWS_DEFAULT_REGION`` (default ``us-east-1``), ``WORKBENCH_STAGING_DIR`` (default: a fresh
temporary folder).

**Digests.** Each uploaded object carries ``x-amz-meta-workbench-sha256``: the SHA-256 content
digest the engine's step cache uses (:func:`content_digest`, defined here once: the engine
imports it). The ETag is not used: it is an MD5 only for
single-part, unencrypted uploads (multipart ETags are digests of part digests, KMS-encrypted ones
are opaque), so it cannot be compared with a digest computed elsewhere; S3's own SHA-256
checksums are likewise per-part for multipart uploads and not offered by every S3-compatible
server. The metadata digest is the same for a file however it was uploaded, and a directory has
one too (the tree digest, stored on its manifest object). Downloads check it.

**Layout.** A file artifact is one object. A directory artifact is one object per file under
``URI/`` plus a manifest object at ``URI`` itself (JSON: files, links, empty folders; metadata
``workbench-kind: dir``), written last, so a directory is complete once its manifest exists.

boto3 is imported only when a store is used (``pip install 'workbench[s3]'``); importing this
module stays cheap.

Example:
    >>> split_uri("s3://models/exp1/run/train/model")
    ('models', 'exp1/run/train/model')
    >>> join_uri("s3://models/exp1", "run/train/model")
    's3://models/exp1/run/train/model'
    >>> rewrite_args(["--model=/ws/artifacts/e/r/s/model"], {"/ws/artifacts/e/r/s/model": "/stage/model"})
    ['--model=/stage/model']
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Exit code of the wrapper when the object store fails it (sysexits' EX_IOERR).
STORE_ERROR_EXIT = 74
#: User metadata keys on every object the wrapper writes (``x-amz-meta-...`` on the wire).
META_DIGEST = "workbench-sha256"
META_KIND = "workbench-kind"
#: The environment variable naming the endpoint of an S3-compatible store.
ENDPOINT_ENV = "WORKBENCH_S3_ENDPOINT_URL"
_CHUNK = 1 << 20
_PREFIX = "workbench objstore: "


class ObjectStoreError(Exception):
    """The object store cannot do what a step needs; the message says what, where, and why."""


# ----------------------------------------------------------------------------------------------- URIs


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as ``(bucket, key)``; anything else is an :class:`ObjectStoreError`."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ObjectStoreError(f"not an object-store URI: {uri!r} (expected s3://bucket/prefix)")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ObjectStoreError(f"invalid bucket name {bucket!r} in {uri!r} (3-63 lowercase letters, digits, '.', '-')")
    return bucket, key.strip("/")


def join_uri(base: str, relative: str) -> str:
    """``base`` (``s3://bucket[/prefix]``) with a relative key appended."""
    relative = relative.replace(os.sep, "/").strip("/")
    return base.rstrip("/") + "/" + relative if relative else base.rstrip("/")


def is_store_uri(text: str) -> bool:
    return isinstance(text, str) and text.startswith("s3://")


# ----------------------------------------------------------------------------------------------- digests


def content_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, or of a directory tree (the engine's cache digest, same algorithm)."""
    p = Path(path)
    if p.is_file():
        h = hashlib.sha256()
        with p.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()
    if p.is_dir():
        h = hashlib.sha256(b"dir\0")
        for root, dirs, files in os.walk(p, followlinks=False):
            dirs.sort()
            for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
                full = os.path.join(root, name)
                rel = os.path.relpath(full, p)
                if os.path.islink(full):
                    h.update(f"link\0{rel}\0{os.readlink(full)}\0".encode())
                else:
                    h.update(f"file\0{rel}\0{content_digest(full)}\0".encode())
        return h.hexdigest()
    raise FileNotFoundError(str(path))


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows of an artifact without downloading it."""

    uri: str
    #: ``file`` or ``dir``.
    kind: str
    #: The content digest (:func:`content_digest`), from the object's metadata ("" if written by another tool).
    digest: str
    #: Bytes of a file (of the manifest, for a directory).
    size: int


# ----------------------------------------------------------------------------------------------- client


def _endpoint() -> str | None:
    return os.environ.get(ENDPOINT_ENV) or None


def make_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client for ``endpoint_url`` (default ``$WORKBENCH_S3_ENDPOINT_URL``, else AWS)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ObjectStoreError("object-store artifacts need boto3: pip install 'workbench[s3]'") from None
    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 4, "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": "path"},  # MinIO and most S3-compatible servers; AWS accepts it too
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or _endpoint(),
        region_name=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1",
        config=config,
    )


def explain(err: BaseException, uri: str, endpoint: str | None = None) -> str:
    """A clear sentence for a boto/botocore error about ``uri`` (no credentials in it)."""
    where = f" (endpoint {endpoint})" if endpoint else ""
    bucket = uri[len("s3://") :].split("/", 1)[0] if is_store_uri(uri) else uri
    name = type(err).__name__
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError", "ReadTimeoutError"):
        return f"cannot reach the object store{where}: {err}"
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return (
            f"no credentials for the object store{where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(on Kubernetes: the Secret named by kubernetes.artifactStoreSecret)"
        )
    response = getattr(err, "response", None) or {}
    code = str((response.get("Error") or {}).get("Code") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code == "NoSuchBucket":
        return f"bucket {bucket!r} does not exist{where}"
    if code in ("NoSuchKey", "404", "NotFound"):
        return f"{uri} does not exist in the object store{where}"
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"):
        return f"access to {uri} denied{where} ({code}): check the credentials and the bucket policy"
    if code or status:
        return f"{uri}{where}: {code or 'HTTP'} {status or ''}".rstrip()
    return f"{uri}{where}: {name}: {err}"


class ObjectStore:
    """Uploads and downloads artifacts (files and directories) with their content digests.

    Example (needs a reachable store)::

        store = ObjectStore(endpoint_url="http://127.0.0.1:9000")
        store.check("s3://artifacts/prefix")
        info = store.upload("model.pkl", "s3://artifacts/prefix/exp/run/train/model")
        store.download(info.uri, "/tmp/model.pkl")
    """

    def __init__(self, endpoint_url: str | None = None, client: Any = None) -> None:
        self.endpoint_url = endpoint_url or _endpoint()
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.endpoint_url)
        return self._client

    def _fail(self, err: BaseException, uri: str) -> ObjectStoreError:
        return ObjectStoreError(explain(err, uri, self.endpoint_url))

    # ------------------------------------------------------------------------------------- checks

    def check(self, uri: str) -> None:
        """Fail clearly now if ``uri``'s bucket does not exist or the store cannot be reached."""
        bucket, _ = split_uri(uri)
        try:
            self.client.head_bucket(Bucket=bucket)
        except ObjectStoreError:
            raise
        except Exception as err:
            code = str(((getattr(err, "response", None) or {}).get("Error") or {}).get("Code") or "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                where = f" (endpoint {self.endpoint_url})" if self.endpoint_url else ""
                raise ObjectStoreError(f"bucket {bucket!r} does not exist{where}") from None
            raise self._fail(err, uri) from None

    def stat(self, uri: str) -> ObjectInfo | None:
        """The artifact at ``uri`` (kind, digest, size), or ``None`` if there is none."""
        bucket, key = split_uri(uri)
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ObjectStoreError:
            raise
        except Exception as err:
            code = str(((getattr(err, "response", None) or {}).get("Error") or {}).get("Code") or "")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail(err, uri) from None
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        return ObjectInfo(uri, meta.get(META_KIND, "file"), meta.get(META_DIGEST, ""), int(head["ContentLength"]))

    # ------------------------------------------------------------------------------------- upload

    def _put_file(self, path: str, bucket: str, key: str, digest: str, kind: str = "file") -> None:
        self.client.upload_file(path, bucket, key, ExtraArgs={"Metadata": {META_DIGEST: digest, META_KIND: kind}})

    def upload(self, path: str | Path, uri: str) -> ObjectInfo:
        """Upload a file or a directory tree to ``uri``, with its content digest."""
        path = Path(path)
        bucket, key = split_uri(uri)
        try:
            if path.is_file():
                digest = content_digest(path)
                self._put_file(str(path), bucket, key, digest)
                return ObjectInfo(uri, "file", digest, path.stat().st_size)
            if not path.is_dir():
                raise ObjectStoreError(f"cannot upload {path}: no such file or directory")
            files, links, dirs = [], [], []
            for root, subdirs, names in os.walk(path, followlinks=False):
                subdirs.sort()
                rel_root = os.path.relpath(root, path)
                if not names and not subdirs and rel_root != ".":
                    dirs.append(rel_root.replace(os.sep, "/"))
                for name in sorted(names + [d for d in subdirs if os.path.islink(os.path.join(root, d))]):
                    full = os.path.join(root, name)
                    rel = os.path.relpath(full, path).replace(os.sep, "/")
                    if os.path.islink(full):
                        links.append({"path": rel, "target": os.readlink(full)})
                        continue
                    digest = content_digest(full)
                    self._put_file(full, bucket, f"{key}/{rel}", digest)
                    files.append({"path": rel, "size": os.path.getsize(full), "sha256": digest})
            tree = content_digest(path)
            manifest = json.dumps({"kind": "dir", "files": files, "links": links, "dirs": dirs}).encode()
            self.client.put_object(Bucket=bucket, Key=key, Body=manifest, ContentType="application/json",
                                   Metadata={META_DIGEST: tree, META_KIND: "dir"})  # fmt: skip
            return ObjectInfo(uri, "dir", tree, len(manifest))
        except ObjectStoreError:
            raise
        except Exception as err:
            if _from_boto(err):
                raise self._fail(err, uri) from None
            raise ObjectStoreError(f"cannot upload {path} to {uri}: {err}") from None

    # ------------------------------------------------------------------------------------- download

    def download(self, uri: str, path: str | Path, verify: bool = True) -> ObjectInfo:
        """Download the artifact at ``uri`` to ``path`` (replacing what is there); checks its digest."""
        path = Path(path)
        bucket, key = split_uri(uri)
        info = self.stat(uri)
        if info is None:
            self.check(uri)  # a missing bucket says so (HEAD of a key cannot tell)
            where = f" (endpoint {self.endpoint_url})" if self.endpoint_url else ""
            raise ObjectStoreError(f"{uri} does not exist in the object store{where}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part-{os.getpid()}")
        _remove(tmp)
        try:
            if info.kind == "dir":
                body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
                manifest = json.loads(body)
                tmp.mkdir(parents=True)
                for rel in manifest.get("dirs", []):
                    (tmp / _safe(rel)).mkdir(parents=True, exist_ok=True)
                for entry in manifest.get("files", []):
                    target = tmp / _safe(entry["path"])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self.client.download_file(bucket, f"{key}/{entry['path']}", str(target))
                for entry in manifest.get("links", []):
                    target = tmp / _safe(entry["path"])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(entry["target"], target)
            else:
                self.client.download_file(bucket, key, str(tmp))
            if verify and info.digest:
                actual = content_digest(tmp)
                if actual != info.digest:
                    raise ObjectStoreError(f"{uri} is corrupt: its content digest {actual[:12]}... differs from "
                                           f"the digest recorded at upload {info.digest[:12]}...")  # fmt: skip
            _remove(path)
            os.replace(tmp, path)
            return info
        except ObjectStoreError:
            raise
        except Exception as err:
            if _from_boto(err):
                raise self._fail(err, uri) from None
            raise ObjectStoreError(f"cannot download {uri} to {path}: {err}") from None
        finally:
            _remove(tmp)


def _from_boto(err: BaseException) -> bool:
    return type(err).__module__.split(".")[0] in ("botocore", "boto3", "s3transfer", "urllib3")


def _safe(rel: str) -> str:
    """A manifest's relative path, refused if it would leave the artifact's folder."""
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        raise ObjectStoreError(f"unsafe path {rel!r} in a directory manifest")
    return rel


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


# ----------------------------------------------------------------------------------------------- wrapper


def rewrite_args(argv: list[str], mapping: dict[str, str]) -> list[str]:
    """Every occurrence of a mapped path in ``argv`` (whole or inside a longer string) replaced.

    Longer paths win over their prefixes (``/a/model_meta`` is not read as ``/a/model`` + ``_meta``);
    a JSON-escaped form of a path (a Python component's spec) is replaced as well.
    """
    if not mapping:
        return list(argv)
    table: dict[str, str] = {}
    for old, new in mapping.items():
        table[old] = new
        escaped = json.dumps(old)[1:-1]
        if escaped != old:
            table[escaped] = json.dumps(new)[1:-1]
    pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)))
    return [pattern.sub(lambda m: table[m.group(0)], arg) for arg in argv]


def _parse(args: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    if "--" not in args:
        raise ObjectStoreError("usage: python -m workbench.runtime.objstore [--in PATH=URI]... "
                               "[--out PATH=URI]... -- COMMAND...")  # fmt: skip
    cut = args.index("--")
    options, command = args[:cut], args[cut + 1 :]
    if not command:
        raise ObjectStoreError("no command after --")
    ins: list[tuple[str, str]] = []
    outs: list[tuple[str, str]] = []
    i = 0
    while i < len(options):
        flag = options[i]
        if flag not in ("--in", "--out") or i + 1 >= len(options):
            raise ObjectStoreError(f"unexpected argument {flag!r} (expected --in PATH=URI or --out PATH=URI)")
        path, sep, uri = options[i + 1].rpartition("=")
        if not sep or not path or not is_store_uri(uri):
            raise ObjectStoreError(f"{flag} {options[i + 1]!r}: expected PATH=s3://bucket/key")
        (ins if flag == "--in" else outs).append((path, uri))
        i += 2
    return ins, outs, command


def _say(message: str) -> None:
    sys.stderr.write(_PREFIX + message + "\n")
    sys.stderr.flush()


def run(args: list[str], store: ObjectStore | None = None) -> int:
    """The wrapper: stage inputs, run the command, upload outputs; returns the exit code."""
    try:
        ins, outs, command = _parse(args)
    except ObjectStoreError as err:
        _say(str(err))
        return 2
    store = store or ObjectStore()
    own_stage = not os.environ.get("WORKBENCH_STAGING_DIR")
    stage = Path(os.environ.get("WORKBENCH_STAGING_DIR") or tempfile.mkdtemp(prefix="workbench-stage-"))
    staged = {path: str(stage / path.lstrip("/")) for path, _ in [*ins, *outs]}
    try:
        for path, uri in ins:
            try:
                store.download(uri, staged[path])
            except ObjectStoreError as err:
                _say(f"cannot download input {uri}: {err}")
                return STORE_ERROR_EXIT
        for path, _ in outs:
            Path(staged[path]).parent.mkdir(parents=True, exist_ok=True)
        code = _run_command(rewrite_args(command, staged))
        failed_uploads = []
        for path, uri in outs:
            if not os.path.lexists(staged[path]):
                continue  # not written: the controller reports the missing output
            try:
                store.upload(staged[path], uri)
            except ObjectStoreError as err:
                _say(f"cannot upload output {uri}: {err}")
                failed_uploads.append(uri)
        if failed_uploads and code == 0:
            return STORE_ERROR_EXIT
        return code
    finally:
        if own_stage:
            shutil.rmtree(stage, ignore_errors=True)


def _run_command(command: list[str]) -> int:
    """Run the step's command with this process's stdin/stdout/stderr; forward SIGTERM/SIGINT to it."""
    if command[0] in ("python", "python3"):
        command = [sys.executable, *command[1:]]  # the image's interpreter, the one running this wrapper
    try:
        proc = subprocess.Popen(command)
    except OSError as err:
        _say(f"cannot run {command[0]!r}: {err.strerror or err}")
        return 127 if isinstance(err, FileNotFoundError) else 126

    def forward(signum: int, _frame: Any) -> None:
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                code = proc.wait()
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for safety
                continue
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


def main(argv: list[str] | None = None) -> int:
    return run(sys.argv[1:] if argv is None else argv)


__all__ = [
    "ENDPOINT_ENV",
    "META_DIGEST",
    "STORE_ERROR_EXIT",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "content_digest",
    "explain",
    "join_uri",
    "make_client",
    "rewrite_args",
    "run",
    "split_uri",
]


if __name__ == "__main__":
    sys.exit(main())
