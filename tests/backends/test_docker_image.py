"""deploy/docker/Dockerfile installs what the pods run (no Docker engine here: the file is checked, not built)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from workbench.backends._k8s_pod import DEFAULT_UID, OBJSTORE_WRAPPER

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            word, _, rest = current.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            current = ""
    return out


def pip_installs(steps: list[tuple[str, str]]) -> list[str]:
    """The requirement arguments of every ``pip install`` in RUN instructions."""
    found: list[str] = []
    for word, rest in steps:
        if word != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            args = shlex.split(command)
            if len(args) >= 2 and args[0].endswith("pip") and args[1] == "install":
                found += [a for a in args[2:] if not a.startswith("-")]
    return found


def test_the_image_installs_the_project_with_the_extras_pods_need():
    extras_defined = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installs = pip_installs(instructions(DOCKERFILE.read_text()))
    project = [a for a in installs if a == "." or a.startswith(".[")]
    assert project, f"the Dockerfile does not pip install the project itself: {installs}"
    extras = set(re.findall(r"[\w-]+", project[0][2:-1])) if project[0].startswith(".[") else set()
    # s3: the object-store wrapper in step pods (and MLflow's MinIO artifacts); postgres: the shared stores.
    assert {"s3", "postgres"} <= extras, extras
    assert extras <= set(extras_defined), f"extras not defined in pyproject.toml: {extras - set(extras_defined)}"
    assert any(req.split(">")[0].split("=")[0].strip() == "boto3" for req in extras_defined["s3"])


def test_the_modules_pods_run_are_copied_into_the_image():
    steps = instructions(DOCKERFILE.read_text())
    copied = {shlex.split(rest)[0] for word, rest in steps if word == "COPY" and not rest.startswith("--from")}
    module = OBJSTORE_WRAPPER[OBJSTORE_WRAPPER.index("-m") + 1]
    for name in (module, "workbench.runtime.launch"):
        path = Path(*name.split(".")).with_suffix(".py")
        assert (REPO / path).is_file(), path
        assert path.parts[0] in copied, f"{path} is not copied into the image ({sorted(copied)})"
    ignored = (REPO / "deploy" / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert not any(Path("workbench/runtime").match(p.strip("*/")) for p in ignored)


def test_the_image_user_is_the_uid_pods_run_as():
    users = [rest for word, rest in instructions(DOCKERFILE.read_text()) if word == "USER"]
    assert users and users[-1].split(":")[0] == str(DEFAULT_UID)
