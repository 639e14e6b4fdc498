"""The object-store wrapper and client (workbench/runtime/objstore.py) against a moto S3 server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from workbench.engine.cache import content_digest as engine_digest  # noqa: E402
from workbench.runtime.objstore import (  # noqa: E402
    META_DIGEST,
    STORE_ERROR_EXIT,
    ObjectStore,
    ObjectStoreError,
    content_digest,
    rewrite_args,
    split_uri,
)
from workbench.testing.s3_server import S3Server  # noqa: E402

BUCKET = "wb-artifacts"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def store(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    return ObjectStore()


def tree(root: Path) -> Path:
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (root / "sub" / "deep" / "c.json").write_text('{"c": 1}')
    os.symlink("a.txt", root / "link")
    return root


def wrapper(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "workbench.runtime.objstore", *args], env=full, cwd=cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------------------ pure parts


def test_the_digest_is_the_step_caches_digest(tmp_path):
    folder = tree(tmp_path / "t")
    assert content_digest(folder) == engine_digest(str(folder))
    assert content_digest(folder / "a.txt") == engine_digest(str(folder / "a.txt"))


def test_uris_are_checked():
    assert split_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    with pytest.raises(ObjectStoreError, match="expected s3://bucket/prefix"):
        split_uri("/local/path")
    with pytest.raises(ObjectStoreError, match="invalid bucket name 'Bad_Bucket'"):
        split_uri("s3://Bad_Bucket/x")


def test_paths_are_rewritten_inside_arguments_longest_first():
    mapping = {"/ws/a/model": "/st/ws/a/model", "/ws/a/model_meta": "/st/ws/a/model_meta", "/ws/é": "/st/ws/é"}
    argv = ["python", "--out=/ws/a/model", "/ws/a/model_meta", '{"p": "/ws/\\u00e9"}', "/ws/other"]
    assert rewrite_args(argv, mapping) == [
        "python", "--out=/st/ws/a/model", "/st/ws/a/model_meta", '{"p": "/st/ws/\\u00e9"}', "/ws/other",
    ]  # fmt: skip


def test_importing_the_runtime_does_not_import_boto3():
    code = "import sys, workbench.runtime.objstore, workbench.runtime.launch; print('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# ------------------------------------------------------------------------------------------------ the store


def test_files_and_folders_round_trip_with_their_digests(store, s3, tmp_path):
    folder = tree(tmp_path / "model")
    info = store.upload(folder, f"s3://{BUCKET}/rt/model")
    assert info.kind == "dir" and info.digest == engine_digest(str(folder))
    assert s3.metadata(BUCKET, "rt/model")[META_DIGEST] == info.digest
    assert "rt/model/sub/deep/c.json" in s3.keys(BUCKET, "rt/")
    back = tmp_path / "back" / "model"
    store.download(f"s3://{BUCKET}/rt/model", back)
    assert content_digest(back) == info.digest
    assert (back / "empty").is_dir() and os.readlink(back / "link") == "a.txt"

    one = tmp_path / "one.txt"
    one.write_text("x" * 1000)
    stat = store.upload(one, f"s3://{BUCKET}/rt/one")
    assert store.stat(f"s3://{BUCKET}/rt/one") == stat
    assert store.stat(f"s3://{BUCKET}/rt/none") is None


def test_a_tampered_object_fails_its_digest_check(store, s3, tmp_path):
    src = tmp_path / "v.txt"
    src.write_text("genuine")
    store.upload(src, f"s3://{BUCKET}/tamper/v")
    digest = s3.metadata(BUCKET, "tamper/v")[META_DIGEST]
    s3.client().put_object(Bucket=BUCKET, Key="tamper/v", Body=b"forged", Metadata={META_DIGEST: digest})
    with pytest.raises(ObjectStoreError, match="is corrupt"):
        store.download(f"s3://{BUCKET}/tamper/v", tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


def test_store_problems_are_named(store, s3, tmp_path):
    with pytest.raises(ObjectStoreError, match="bucket 'no-such-bucket' does not exist"):
        store.check("s3://no-such-bucket/prefix")
    with pytest.raises(ObjectStoreError, match=f"s3://{BUCKET}/missing does not exist"):
        store.download(f"s3://{BUCKET}/missing", tmp_path / "x")
    dead = ObjectStore(endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ObjectStoreError, match="cannot reach the object store"):
        dead.check(f"s3://{BUCKET}/p")


# ------------------------------------------------------------------------------------------------ the wrapper

STEP = """
import pathlib, sys
src, dst = sys.argv[1], sys.argv[2]
print("staged", src.startswith("/ws/") is False)
print("loss=0.25")
sys.stdout.flush()
print("warning on stderr", file=sys.stderr)
pathlib.Path(dst).write_text(pathlib.Path(src).read_text().upper())
sys.exit(int(sys.argv[3]))
"""


def test_the_wrapper_stages_inputs_runs_the_command_and_uploads_outputs(store, s3, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("from the store")
    store.upload(data, f"s3://{BUCKET}/w/in")
    args = ["--in", f"/ws/in/data.txt=s3://{BUCKET}/w/in", "--out", f"/ws/out/result=s3://{BUCKET}/w/out",
            "--", "python", "-c", STEP, "/ws/in/data.txt", "/ws/out/result", "0"]  # fmt: skip
    done = wrapper(args, s3.env(), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["staged True", "loss=0.25"]  # the command's own output, unchanged
    assert "warning on stderr" in done.stderr
    assert s3.read(BUCKET, "w/out") == b"FROM THE STORE"
    assert s3.metadata(BUCKET, "w/out")[META_DIGEST] == content_digest_bytes(b"FROM THE STORE")
    assert not Path("/ws").exists()


def content_digest_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_the_wrapper_keeps_the_exit_code_and_uploads_what_exists_on_failure(store, s3, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("partial")
    store.upload(data, f"s3://{BUCKET}/f/in")
    args = ["--in", f"/ws/d=s3://{BUCKET}/f/in", "--out", f"/ws/r=s3://{BUCKET}/f/out",
            "--out", f"/ws/never=s3://{BUCKET}/f/never", "--", "python", "-c", STEP, "/ws/d", "/ws/r", "3"]  # fmt: skip
    done = wrapper(args, s3.env(), tmp_path)
    assert done.returncode == 3
    assert s3.read(BUCKET, "f/out") == b"PARTIAL"
    assert s3.keys(BUCKET, "f/never") == []


def test_the_wrapper_fails_clearly_when_the_store_cannot_serve(s3, tmp_path):
    args = ["--in", "/ws/d=s3://no-such-bucket/x", "--", "python", "-c", "print('ran')"]
    done = wrapper(args, s3.env(), tmp_path)
    assert done.returncode == STORE_ERROR_EXIT
    assert "ran" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == (
        f"workbench objstore: cannot download input s3://no-such-bucket/x: bucket 'no-such-bucket' does not exist "
        f"(endpoint {s3.url})"
    )
    dead = {**s3.env(), "WORKBENCH_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    done = wrapper(["--out", f"/ws/r=s3://{BUCKET}/x", "--", "python", "-c", "open('/ws/r', 'w').write('1')"], dead,
                   tmp_path)  # fmt: skip
    # /ws/r is staged, the command succeeded, but the upload cannot happen: the step must not succeed.
    assert done.returncode == STORE_ERROR_EXIT
    assert "cannot upload output" in done.stderr and "cannot reach the object store" in done.stderr
    assert "AWS_SECRET_ACCESS_KEY" not in done.stderr.replace("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", "")
    assert s3.env()["AWS_SECRET_ACCESS_KEY"] not in done.stderr


def test_the_wrapper_refuses_bad_arguments(tmp_path):
    done = wrapper(["--in", "/ws/d", "--", "true"], {}, tmp_path)
    assert done.returncode == 2 and "expected PATH=s3://bucket/key" in done.stderr
