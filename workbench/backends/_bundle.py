"""The files an experiment or a pipeline uses, shipped to the cluster in a ConfigMap (``workbench submit``,
``workbench schedule create --backend kubernetes``).

Only what the spec references travels, never a whole folder:

- every Python component's file (``implementation.python.file``) and the Python files it imports
  locally, followed transitively: ``import x``, ``from x import y`` and relative imports that resolve
  to a ``.py`` file or a package folder next to the importing file;
- for container components (KFP ``component.yaml``, a Katib ``trialSpec``): every literal command or
  argument that names an existing file, relative to the step's working folder (``--opt=FILE`` counts),
  and, for a ``.py`` file, its local imports too;
- the warm-start CSV (``warmStart.csv``).

The pipeline and component YAML files are not needed: the document holds them resolved. Files a
step opens by itself at run time (data) are not shipped: put them in the image or on the shared
volume. A text file goes in ``data``, any other in ``binaryData``; the whole bundle must fit in a
ConfigMap (:data:`BUNDLE_LIMIT`), and a bundle that does not names its largest files.
"""

from __future__ import annotations

import ast
import base64
import json
import os
from pathlib import Path
from typing import Any

from workbench.backends._k8s_pod import slug

#: Bundles of experiment files larger than this do not fit in a ConfigMap (1 MiB with its keys).
BUNDLE_LIMIT = 900 * 1024
#: Where the shared volume is mounted in the controller, the CronJob pods and every step pod (the workspace).
WORKSPACE_PATH = "/workbench"
#: The bundle key listing the folders to create on the volume (working folders that hold no shipped file).
DIRS_KEY = "dirs.json"
#: Literal command items longer than this are code or data, never a file name.
_MAX_NAME = 4096


class BundleError(ValueError):
    """The experiment's files cannot be shipped in a ConfigMap."""


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _module_files(name: str, folder: Path) -> list[Path]:
    """The files of module ``a.b.c`` found under ``folder``: ``a/__init__.py``, ``a/b/__init__.py``, ``a/b/c.py``."""
    found: list[Path] = []
    parts = [p for p in name.split(".") if p]
    here = folder
    for part in parts:
        package = here / part / "__init__.py"
        module = here / f"{part}.py"
        if _is_file(package):
            found.append(package)
            here = here / part
        elif _is_file(module):
            found.append(module)
            break
        elif (here / part).is_dir():  # a namespace package folder
            here = here / part
        else:  # not local (a library), or a name inside a module
            break
    return found


def local_imports(path: Path) -> list[Path]:
    """The local Python files ``path`` imports, directly (files that do not parse import nothing)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    folder = path.parent
    found: list[Path] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += _module_files(alias.name, folder)
        elif isinstance(node, ast.ImportFrom):
            base = folder
            for _ in range(max(0, node.level - 1)):
                base = base.parent
            module = node.module or ""
            own = _module_files(module, base) if module else []
            if node.level and _is_file(base / "__init__.py"):  # the package a relative import runs in
                own.insert(0, base / "__init__.py")
            found += own
            target = base.joinpath(*module.split(".")) if module else base
            if node.level or own or (module and target.is_dir()):  # `from pkg import sub` may name a submodule
                for alias in node.names:
                    found += [f for f in (target / f"{alias.name}.py", target / alias.name / "__init__.py")
                              if _is_file(f)]  # fmt: skip
    return found


def _with_imports(files: dict[Path, str]) -> None:
    """Add the local imports of every Python file in ``files`` (transitively)."""
    todo = [p for p in files if p.suffix == ".py"]
    while todo:
        path = todo.pop()
        for imported in local_imports(path):
            imported = imported.resolve()
            if imported not in files:
                files[imported] = f"imported by {path.name}"
                todo.append(imported)


def _named_files(items: list[Any], workdir: str) -> list[Path]:
    """Files a container command line names literally (``FILE`` or ``--opt=FILE``), relative to ``workdir``."""
    found = []
    for item in items:
        if not isinstance(item, str) or len(item) > _MAX_NAME or "\n" in item:
            continue
        for text in {item, item.split("=", 1)[1] if "=" in item else ""}:
            if not text or text.startswith("-"):
                continue
            candidate = Path(text) if os.path.isabs(text) else Path(workdir) / text
            if _is_file(candidate):
                found.append(candidate.resolve())
    return found


def _pipeline_files(pipeline: dict[str, Any], files: dict[Path, str], dirs: set[Path], base: str = "") -> None:
    base = str(pipeline.get("baseDir") or base)
    if base and os.path.isabs(base):
        dirs.add(Path(base))
    steps = [s for s in pipeline.get("steps") or [] if isinstance(s, dict)]
    exit_step = pipeline.get("onExit")
    for step in [*steps, *([exit_step] if isinstance(exit_step, dict) else [])]:
        component = step.get("component")
        if not isinstance(component, dict):
            continue
        if "steps" in component:  # a nested pipeline (its own folder, else its parent's)
            _pipeline_files(component, files, dirs, base)
            continue
        impl = component.get("implementation") or {}
        python, container = impl.get("python"), impl.get("container")
        name = step.get("name", "?")
        if isinstance(python, dict) and isinstance(python.get("file"), str) and os.path.isabs(python["file"]):
            files.setdefault(Path(python["file"]), f"the code of step {name!r}")
        elif isinstance(container, dict):
            workdir = container.get("workingDir")
            workdir = workdir if isinstance(workdir, str) and os.path.isabs(workdir) else base
            if not workdir:
                continue
            for path in _named_files([*container.get("command", []), *container.get("args", [])], workdir):
                files.setdefault(path, f"named by the command of step {name!r}")


def referenced_files(doc: dict[str, Any]) -> tuple[dict[Path, str], set[Path]]:
    """The files an experiment (or pipeline) document uses, each with why, and the folders its steps run in.

    See the module docstring for the rule.
    """
    files: dict[Path, str] = {}
    dirs: set[Path] = set()
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else doc
    template = spec.get("trialTemplate") if isinstance(spec.get("trialTemplate"), dict) else None
    pipeline = template.get("pipeline") if template else (spec if "steps" in spec else None)
    if isinstance(pipeline, dict):
        _pipeline_files(pipeline, files, dirs)
    warm = spec.get("warmStart")
    if isinstance(warm, dict) and isinstance(warm.get("csv"), str) and os.path.isabs(warm["csv"]):
        files.setdefault(Path(warm["csv"]), "the warm-start CSV")
    files = {p: why for p, why in files.items() if _is_file(p)}
    _with_imports(files)
    return files, dirs


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


def make_bundle(
    doc: dict[str, Any], experiment: str, limit: int = BUNDLE_LIMIT, workspace: str = WORKSPACE_PATH
) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """The ConfigMap ``data`` and ``binaryData`` shipping a document and the files it uses, and the volume
    ``items`` that lay them out.

    Each file is shipped under ``root/`` at its absolute path and the document is rewritten to point
    there (``/workbench/bundles/<name>/root/...``): on the shared volume the step pods see the same
    files at the same paths. Returns ``({"data": ..., "binaryData": ...}, {"items": ..., "target": ...})``.
    """
    target = f"{workspace}/bundles/{slug(experiment)}"
    files, dirs = referenced_files(doc)
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    items: list[dict[str, str]] = []
    sizes: list[tuple[int, Path]] = []
    for path in sorted(files):
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise BundleError(f"cannot read {path} ({files[path]}): {err.strerror or err}") from None
        key = f"f{len(items):04d}"
        try:
            data[key] = raw.decode("utf-8")
            sizes.append((len(raw), path))
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(raw).decode("ascii")
            sizes.append((len(binary[key]), path))
        items.append({"key": key, "path": "root" + str(path)})
    total = sum(n for n, _ in sizes)
    if total > limit:
        largest = ", ".join(f"{p} ({_size(n)}, {files[p]})" for n, p in sorted(sizes, reverse=True)[:3])
        raise BundleError(
            f"the files of {experiment!r} add up to {_size(total)}, more than the {limit // 1024} KiB a ConfigMap "
            f"holds; the largest: {largest}. Bake them into the image or put them on the shared volume"
        )
    roots = sorted({*dirs, *(p.parent for p in files)}, key=lambda p: len(str(p)), reverse=True)

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, str) and os.path.isabs(value):
            for root in roots:
                if value == str(root) or value.startswith(str(root) + os.sep):
                    return f"{target}/root{value}"
        return value

    import yaml

    data["experiment.yaml"] = yaml.safe_dump(rewrite(doc), sort_keys=False)
    items.append({"key": "experiment.yaml", "path": "experiment.yaml"})
    data[DIRS_KEY] = json.dumps(sorted("root" + str(d) for d in dirs))
    items.append({"key": DIRS_KEY, "path": DIRS_KEY})
    return {"data": data, "binaryData": binary}, {"items": items, "target": target}


def unpack_bundle(bundle: Path, target: Path) -> None:
    """In a pod: copy a mounted bundle ConfigMap's files to ``target`` (the kubelet's ``..data`` links skipped)
    and create the working folders it lists."""
    import shutil

    for dirpath, dirnames, filenames in os.walk(bundle, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith("..")]
        rel = Path(dirpath).relative_to(bundle)
        for filename in filenames:
            if filename.startswith(".."):
                continue
            dest = target / rel / filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(dirpath) / filename, dest)
    listed = bundle / DIRS_KEY
    if listed.is_file():
        for folder in json.loads(listed.read_text(encoding="utf-8")):
            (target / folder).mkdir(parents=True, exist_ok=True)


__all__ = ["BUNDLE_LIMIT", "BundleError", "local_imports", "make_bundle", "referenced_files", "unpack_bundle"]
