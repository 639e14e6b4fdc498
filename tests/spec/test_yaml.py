"""Bounded YAML reading: malformed input, bombs, huge files and odd tags all become SpecError."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from spec_helpers import raises_spec, write

from workbench.spec import load_experiment, load_pipeline, parse_yaml, read_yaml
from workbench.spec._yaml import MAX_DEPTH, MAX_SPEC_BYTES


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_plain_documents() -> None:
    assert parse_yaml("a: [1, 2.5, true, null, 'x']") == {"a": [1, 2.5, True, None, "x"]}
    assert parse_yaml("") is None
    assert parse_yaml("# only a comment\n") is None
    assert parse_yaml("base: &b {x: 1}\nuse: {<<: *b, y: 2}\n") == {"base": {"x": 1}, "use": {"x": 1, "y": 2}}
    assert parse_yaml("- &a [1, 2]\n- *a\n") == [[1, 2], [1, 2]]


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path, "bad.yaml", "apiVersion: workbench.io/v1alpha1\nkind: Experiment\nspec:\n  objective: [unclosed\n"
    )
    with raises_spec("", "malformed YAML at line", "column") as info:
        load_experiment(path)
    assert info.value.source == str(path.resolve())
    with raises_spec("", "malformed YAML at line 2, column 5", "mapping values are not allowed"):
        parse_yaml("a: 1\nb: c: d\n")
    with raises_spec("", "malformed YAML at line 1", "found character '\\t'"):
        parse_yaml("\tkey: 1\n")
    with raises_spec("", "expected a single document"):
        parse_yaml("a: 1\n---\nb: 2\n")
    with raises_spec("", "could not determine a constructor"):
        parse_yaml("a: !!python/object/apply:os.system ['true']\n")
    with raises_spec("", "malformed YAML"):
        parse_yaml("a: \x00\n")


def test_yaml_bomb_is_refused_quickly() -> None:
    start = time.perf_counter()
    with raises_spec("", "aliases expand to more than"):
        parse_yaml(billion_laughs())
    assert time.perf_counter() - start < 1.0


def test_yaml_bomb_in_a_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.yaml", billion_laughs() + "spec: {}\n")
    start = time.perf_counter()
    with raises_spec("", "aliases expand") as info:
        load_experiment(path)
    assert time.perf_counter() - start < 1.0
    assert info.value.source == str(path.resolve())


def test_alias_limits() -> None:
    assert parse_yaml(billion_laughs(4))["d"][0][0][0][0] == "lol"  # 9**4 nodes: fine
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * 1001) + "]\n"
    with raises_spec("", "too many YAML aliases"):
        parse_yaml(many)
    with raises_spec("", "recursive YAML alias"):
        parse_yaml("a: &a [1, *a]\n")
    with raises_spec("", "recursive YAML alias"):
        parse_yaml("a: &a {b: {c: *a}}\n")


def test_nesting_limit() -> None:
    assert parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    start = time.perf_counter()
    with raises_spec("", f"deeper than {MAX_DEPTH}"):
        parse_yaml("[" * 5000 + "]" * 5000)
    with raises_spec("", f"deeper than {MAX_DEPTH}"):
        parse_yaml("a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 60 + "*a" + "]" * 60 + "\n")
    assert time.perf_counter() - start < 2.0


def test_file_over_5_mb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * MAX_SPEC_BYTES + "\n")
    start = time.perf_counter()
    with raises_spec("", "larger than 5 MB"):
        load_experiment(path)
    with raises_spec("", "larger than 5 MB"):
        read_yaml(path)
    with raises_spec("", "larger than 5 MB"):
        parse_yaml("a: " + "é" * (MAX_SPEC_BYTES // 2))
    assert time.perf_counter() - start < 1.0


def test_file_problems(tmp_path: Path) -> None:
    with raises_spec("", "file not found") as info:
        load_experiment(tmp_path / "missing.yaml")
    assert info.value.source == str((tmp_path / "missing.yaml").resolve())
    with raises_spec("", "file not found"):
        load_pipeline(tmp_path / "missing.yaml")
    with raises_spec("", "is a directory"):
        read_yaml(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with raises_spec("", "not UTF-8"):
        read_yaml(tmp_path / "latin1.yaml")
    (tmp_path / "bom.yaml").write_bytes("\ufeffname: x\n".encode())
    assert read_yaml(tmp_path / "bom.yaml") == {"name": "x"}
    with raises_spec("", "file not found"):
        read_yaml(str(tmp_path / "nul\x00.yaml"))


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n", "", "null\n"])
def test_non_mapping_documents(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "doc.yaml", text)
    with raises_spec("", "expected a mapping (an Experiment document)"):
        load_experiment(path)
    with raises_spec("", "expected a mapping (a Pipeline document)"):
        load_pipeline(path)


def test_keys_must_be_strings() -> None:
    with raises_spec("", "mapping keys must be strings", "'1'", "line 1"):
        parse_yaml("1: a\n")
    with raises_spec("", "quote the key 'yes'"):
        parse_yaml("yes: a\n")
    with raises_spec("", "mapping keys must be strings", "collection"):
        parse_yaml("? [a]\n: b\n")
    assert parse_yaml("'1': a\n'yes': b\n") == {"1": "a", "yes": "b"}


def test_json_only_values() -> None:
    assert parse_yaml("when: 2024-01-02\nat: 2024-01-02T03:04:05Z\n") == {
        "when": "2024-01-02",
        "at": "2024-01-02T03:04:05Z",
    }
    for text, fragment in [
        ("a: !!binary aGk=\n", "binary"),
        ("a: !!set {x, y}\n", "a set"),
        ("a: !!omap [{x: 1}]\n", "ordered map"),
        ("a: !!pairs [{x: 1}]\n", "pairs"),
    ]:
        with raises_spec("", fragment, "not supported", "line 1"):
            parse_yaml(text)
