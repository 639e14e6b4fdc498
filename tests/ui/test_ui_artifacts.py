"""Artifact access: only files inside the artifact store are served; previews; HTML never runs script."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from workbench import readmodel as rm
from workbench.workspace import Workspace


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    (root / "exp" / "run" / "step").mkdir(parents=True)
    (root / "exp" / "run" / "step" / "table.csv").write_text("a,b\n1,2\n3,4\n")
    (root / "exp" / "run" / "step" / "folder").mkdir()
    (root / "exp" / "run" / "step" / "folder" / "inner.txt").write_text("hello\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret\n")
    os.symlink(secret, root / "exp" / "run" / "step" / "link-out")
    os.symlink(tmp_path, root / "exp" / "run" / "step" / "folder" / "dir-out")
    os.symlink(root / "exp" / "run" / "step" / "table.csv", root / "exp" / "run" / "step" / "link-in")
    (tmp_path / "artifacts-evil").mkdir()
    (tmp_path / "artifacts-evil" / "x.txt").write_text("sibling folder with the store's name as a prefix\n")
    return root


def test_inside_paths_are_served(store: Path) -> None:
    inside = store / "exp" / "run" / "step" / "table.csv"
    assert rm.resolve_artifact(store, str(inside)) == inside.resolve()
    assert rm.resolve_artifact(store, inside.as_uri()) == inside.resolve()
    assert rm.resolve_artifact(store, "exp/run/step/table.csv") == inside.resolve()
    assert rm.resolve_artifact(store, "exp/run/step/link-in") == inside.resolve()  # a symlink that stays inside


@pytest.mark.parametrize(
    "request_path",
    [
        "../secret.txt",
        "exp/../../secret.txt",
        "exp/run/../../../secret.txt",
        "exp/run/step/link-out",
        "exp/run/step/folder/dir-out/secret.txt",
        "/etc/passwd",
        "file:///etc/passwd",
        "s3://bucket/key",
        "exp/run/step/missing.txt",
        "exp/run/step/table.csv\x00.png",
        "../artifacts-evil/x.txt",
    ],
)
def test_outside_paths_are_refused(store: Path, request_path: str) -> None:
    with pytest.raises(rm.ArtifactAccessError):
        rm.resolve_artifact(store, request_path)


def test_absolute_path_with_the_store_as_a_prefix_is_refused(store: Path) -> None:
    with pytest.raises(rm.ArtifactAccessError, match="outside the artifact store"):
        rm.resolve_artifact(store, str(store.parent / "artifacts-evil" / "x.txt"))


def test_folder_listing_marks_symlinks_out_as_refused(store: Path) -> None:
    files = {f["path"]: f for f in rm.list_files(store, "exp/run/step")}
    assert not files["table.csv"]["refused"] and not files["folder/inner.txt"]["refused"]
    assert files["link-out"]["refused"] and files["folder/dir-out"]["refused"]
    assert not any(p.startswith("folder/dir-out/") for p in files)  # never walked into


def test_preview_of_a_member_cannot_leave_its_folder(store: Path) -> None:
    assert rm.preview(store, "exp/run/step/folder", member="inner.txt").data == "hello\n"
    for member in ("../table.csv", "/etc/passwd", "dir-out/secret.txt"):
        with pytest.raises(rm.ArtifactAccessError):
            rm.preview(store, "exp/run/step/folder", member=member)


def test_html_sandbox_never_allows_scripts() -> None:
    markup = "<h1>hi</h1><script>alert(1)</script><img src=x onerror=alert(2)>"
    frame = rm.html_sandbox(markup)
    assert re.search(r'<iframe sandbox=""', frame) and "allow-scripts" not in frame and "allow-same-origin" not in frame
    assert "<script>" not in frame and "&lt;script&gt;" in frame  # the markup travels escaped, as srcdoc
    assert "Content-Security-Policy" in frame
    assert frame.count("<iframe") == 1 and frame.count("</iframe>") == 1
    breakout = rm.html_sandbox('"></iframe><script>alert(3)</script>')
    assert breakout.count("</iframe>") == 1 and "<script>" not in breakout


def _outputs(ws: Workspace, experiment: str) -> dict[str, dict]:
    data = rm.ReadModel(ws).experiment(experiment)
    _, artifacts = rm.run_steps(rm.Stores(ws), data.trials["run_id"].iloc[0])
    return {f"{a['step']}/{a['name']}": a for a in artifacts if a["direction"] == "output"}


def test_previews_of_real_artifacts(ui_home: Path) -> None:
    ws = Workspace.at(ui_home)
    kinds = {k: rm.preview(ws.artifacts, a["uri"], a["type"]) for k, a in _outputs(ws, "zoo-mo").items()}
    assert {k: p.kind for k, p in kinds.items()} == {
        "make/table": "table",
        "make/image": "image",
        "make/notes": "markdown",
        "make/page": "html",
        "make/bundle": "folder",
        "score/metrics": "metrics",
        "score/confusion": "confusion",
    }
    assert list(kinds["make/table"].data.columns) == ["id", "x", "y", "label"]
    assert kinds["make/image"].data.startswith(b"\x89PNG")
    bundle = {f["path"]: f["refused"] for f in kinds["make/bundle"].files}
    assert bundle == {"config.yaml": False, "escape": True, "readme.txt": False, "swatch.png": False}
    folder = _outputs(ws, "zoo-mo")["make/bundle"]["uri"]
    assert rm.preview(ws.artifacts, folder, member="config.yaml").kind == "yaml"
    with pytest.raises(rm.ArtifactAccessError):
        rm.preview(ws.artifacts, folder, member="escape")
    sk = {k: rm.preview(ws.artifacts, a["uri"], a["type"]) for k, a in _outputs(ws, "sk-ui").items()}
    assert sk["load/data"].kind == "arrays" and "X_train" in sk["load/data"].data
    assert sk["train/model"].kind == "folder"
    assert rm.preview(ws.artifacts, _outputs(ws, "sk-ui")["train/model"]["uri"], member="model.pkl").kind == "binary"
    assert sk["evaluate/confusion_matrix"].kind == "confusion" and sk["evaluate/metrics"].kind == "metrics"


def test_table_and_text_diffs() -> None:
    left = pd.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0], "old": ["a", "b", "c"]})
    right = pd.DataFrame({"id": [1, 2, 4], "x": [1.0, 2.5, 4.0], "new": [0, 0, 0]})
    by_pos = rm.table_diff(left, right)
    assert by_pos["only_left_columns"] == ["old"] and by_pos["only_right_columns"] == ["new"]
    assert set(map(tuple, by_pos["changed"][["row", "column"]].to_numpy().tolist())) == {(1, "x"), (2, "id"), (2, "x")}
    assert set(by_pos["stats"]["column"]) == {"id", "x"}
    by_key = rm.table_diff(left, right, key="id")
    assert by_key["only_left_rows"] == [3] and by_key["only_right_rows"] == [4]
    assert by_key["changed"][["row", "column"]].to_numpy().tolist() == [[2, "x"]]
    diff = rm.text_diff("a\nb\n", "a\nc\n", "left", "right")
    assert "-b" in diff and "+c" in diff and rm.text_diff("same\n", "same\n") == ""
