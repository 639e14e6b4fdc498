"""Loaders: Workbench YAML, Katib ``v1beta1`` Experiment YAML, KFP v1 ``component.yaml``.

Every loader returns validated models or raises ``SpecError`` naming the file and
the field path. Loading reads files only; it never touches a store.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any

from workbench.errors import SpecError
from workbench.spec._component import Component
from workbench.spec._experiment import API_VERSION, KATIB_API_VERSION, ExperimentSpec
from workbench.spec._pipeline import Pipeline
from workbench.spec._validation import check_name, validate_model
from workbench.spec._yaml import read_yaml

_TRIAL_PARAM = re.compile(r"\$\{trialParameters\.([A-Za-z0-9_.-]+)\}")
_PY_REF = re.compile(r"^(?P<file>.+\.py):(?P<function>[A-Za-z_]\w*)$")


# --------------------------------------------------------------------------- templates


def template_dirs() -> list[Path]:
    """Where trial templates are looked up: ``$WORKBENCH_TEMPLATES``, ``./trials``, the bundled catalog."""
    dirs = [Path(p) for p in os.environ.get("WORKBENCH_TEMPLATES", "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "trials")
    dirs.append(Path(__file__).resolve().parents[2] / "trials")
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.append(d.resolve())
    return seen


def list_templates() -> dict[str, Path]:
    """Catalog name -> pipeline file, first directory wins."""
    found: dict[str, Path] = {}
    for d in template_dirs():
        for child in sorted(d.iterdir()):
            pipeline = child / "pipeline.yaml"
            if pipeline.is_file() and child.name not in found:
                found[child.name] = pipeline
    return found


def find_template(ref: str, base_dir: Path) -> Path:
    """A template given by catalog name, by directory or by pipeline file path."""
    candidate = (base_dir / ref).resolve()
    if candidate.is_dir() and (candidate / "pipeline.yaml").is_file():
        return candidate / "pipeline.yaml"
    if candidate.is_file():
        return candidate
    catalog = list_templates()
    if ref in catalog:
        return catalog[ref]
    raise SpecError(f"no trial template {ref!r} (known templates: {sorted(catalog)})")


# --------------------------------------------------------------------------- components


def _import_file(path: Path) -> Any:
    name = "_workbench_spec_" + re.sub(r"\W", "_", str(path))
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SpecError("cannot import Python file", source=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code: report whatever it raised
        del sys.modules[name]
        raise SpecError(f"importing it failed: {type(err).__name__}: {err}", source=str(path)) from None
    return module


def python_component(ref: str, base_dir: Path) -> Component:
    """``steps.py:train`` -> the component spec of that decorated function."""
    from workbench.dsl import PythonComponent, describe

    match = _PY_REF.match(ref)
    if not match:
        raise SpecError(f"expected FILE.py:FUNCTION, got {ref!r}")
    path = (base_dir / match["file"]).resolve()
    if not path.is_file():
        raise SpecError(f"Python file {str(path)!r} not found")
    module = _import_file(path)
    obj = getattr(module, match["function"], None)
    if obj is None:
        raise SpecError(f"{path.name} defines no function {match['function']!r}")
    func = obj.func if isinstance(obj, PythonComponent) else obj
    if not callable(func):
        raise SpecError(f"{match['function']!r} in {path.name} is not a function")
    data = describe(func)
    data["implementation"]["python"]["file"] = str(path)
    return validate_model(Component, data, source=str(path))


def load_component(ref: str | Path | dict[str, Any], base_dir: Path | None = None) -> Component:
    """A component from a KFP v1 / Workbench YAML file, a ``file.py:function`` ref, or a dict.

    Example:
        >>> c = load_component({"name": "noop", "implementation": {"container": {"command": ["true"]}}})
        >>> c.name
        'noop'
    """
    base = base_dir or Path.cwd()
    if isinstance(ref, dict):
        return _component_from_dict(ref, base, source=None)
    text = str(ref)
    if _PY_REF.match(text):
        return python_component(text, base)
    path = (base / text).resolve()
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError("a component file must be a mapping", source=str(path))
    return _component_from_dict(data, path.parent, source=str(path))


def _component_from_dict(data: dict[str, Any], base: Path, source: str | None) -> Component:
    data = dict(data)
    impl = data.get("implementation")
    if isinstance(impl, dict) and isinstance(impl.get("python"), dict):
        py = dict(impl["python"])
        if "file" in py:
            py["file"] = str((base / str(py["file"])).resolve())
        data["implementation"] = {**impl, "python": py}
    return validate_model(Component, data, source=source)


# --------------------------------------------------------------------------- pipelines


def _unwrap(data: Any, kind: str, source: str) -> tuple[dict[str, Any], str]:
    """Accept ``{apiVersion, kind, metadata, spec}`` documents and bare specs; return (spec, prefix)."""
    if not isinstance(data, dict):
        raise SpecError(f"expected a mapping (a {kind} document)", source=source)
    if "spec" in data and "kind" in data:
        if data.get("kind") != kind:
            raise SpecError(f"expected kind {kind!r}, got {data.get('kind')!r}", path="kind", source=source)
        meta = data.get("metadata") or {}
        if not isinstance(meta, dict):
            raise SpecError("expected a mapping", path="metadata", source=source)
        spec = data.get("spec")
        if not isinstance(spec, dict):
            raise SpecError("expected a mapping", path="spec", source=source)
        spec = dict(spec)
        for key in ("name", "namespace", "description"):
            if key in meta and key not in spec:
                spec[key] = meta[key]
        return spec, "spec"
    return dict(data), ""


def pipeline_from_dict(data: dict[str, Any], base_dir: Path, prefix: str = "", source: str | None = None) -> Pipeline:
    """Validate a pipeline spec (mapping), resolving component references against ``base_dir``."""
    data = dict(data)
    steps = data.get("steps")
    if isinstance(steps, list):
        resolved = []
        for index, step in enumerate(steps):
            if isinstance(step, dict) and "component" in step:
                step = dict(step)
                try:
                    comp = step["component"]
                    if isinstance(comp, Component):
                        pass
                    elif isinstance(comp, (str, dict)):
                        step["component"] = load_component(comp, base_dir)
                    else:
                        raise SpecError("expected a component file, FILE.py:FUNCTION or an inline component")
                except SpecError as err:
                    path = f"{prefix + '.' if prefix else ''}steps[{index}].component"
                    raise SpecError(err.message, path=path if not err.source else err.path, source=err.source or source) from None
            resolved.append(step)
        data["steps"] = resolved
    data.setdefault("base_dir", str(base_dir))
    return validate_model(Pipeline, data, prefix=prefix, source=source)


def load_pipeline(path: str | Path) -> Pipeline:
    """Load a pipeline YAML file (``kind: Pipeline``)."""
    p = Path(path).resolve()
    data = read_yaml(p)
    spec, prefix = _unwrap(data, "Pipeline", str(p))
    return pipeline_from_dict(spec, p.parent, prefix=prefix, source=str(p))


def component_pipeline(component: Component, base_dir: Path) -> Pipeline:
    """A one-step pipeline whose parameters are the component's inputs."""
    params = [i.model_dump() for i in component.inputs if not i.is_artifact]
    return Pipeline.model_validate(
        {
            "name": component.name,
            "parameters": params,
            "steps": [
                {
                    "name": component.name if _valid_name(component.name) else "main",
                    "component": component,
                    "arguments": {p["name"]: f"{{{{params.{p['name']}}}}}" for p in params},
                }
            ],
            "base_dir": str(base_dir),
        }
    )


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- experiments


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Load a Workbench or Katib ``v1beta1`` Experiment YAML file.

    Katib files run unchanged: their trial's primary container command becomes a
    one-step pipeline (a process locally, the pod it describes on Kubernetes).
    """
    p = Path(path).resolve()
    data = read_yaml(p)
    return experiment_from_dict(data, p.parent, source=str(p))


def experiment_from_dict(data: Any, base_dir: Path, source: str | None = None) -> ExperimentSpec:
    """Validate an Experiment document (Workbench or Katib) and resolve its trial template."""
    src = source or "<experiment>"
    if not isinstance(data, dict):
        raise SpecError("expected a mapping (an Experiment document)", source=src)
    api = data.get("apiVersion", API_VERSION)
    if api not in (API_VERSION, KATIB_API_VERSION):
        raise SpecError(
            f"unsupported apiVersion {api!r} (expected {API_VERSION} or {KATIB_API_VERSION})",
            path="apiVersion",
            source=src,
        )
    spec, prefix = _unwrap(data, "Experiment", src)
    meta = data.get("metadata") or {}
    if prefix and "name" not in meta:
        raise SpecError("required field is missing", path="metadata.name", source=src)
    try:
        check_name(str(spec.get("name", "")), "experiment name")
    except ValueError as err:
        raise SpecError(str(err), path="metadata.name" if prefix else "name", source=src) from None
    template = spec.get("trialTemplate", spec.get("trial_template"))
    tt_path = f"{prefix + '.' if prefix else ''}trialTemplate"
    if not isinstance(template, dict):
        raise SpecError("required: a mapping with template, pipeline, component or trialSpec", path=tt_path, source=src)
    template = dict(template)
    pipeline = resolve_trial_pipeline(template, base_dir, tt_path, src)
    template["pipeline"] = pipeline
    spec = {**spec, "trialTemplate": template}
    spec.pop("trial_template", None)
    experiment = validate_model(ExperimentSpec, spec, prefix=prefix, source=src)
    check_bindings(experiment, prefix, src)
    return experiment


def resolve_trial_pipeline(template: dict[str, Any], base_dir: Path, path: str, source: str) -> Pipeline:
    """Turn whichever trial template form is given into a ``Pipeline``."""
    forms = [k for k in ("template", "pipeline", "component", "trialSpec", "configMap") if template.get(k) is not None]
    if len(forms) != 1:
        raise SpecError(
            f"give exactly one of template, pipeline, component or trialSpec (got {forms or 'none'})",
            path=path,
            source=source,
        )
    form = forms[0]
    value = template[form]
    try:
        if form == "template":
            return load_pipeline(find_template(str(value), base_dir))
        if form == "pipeline":
            if isinstance(value, Pipeline):
                return value
            if isinstance(value, dict):
                spec, _ = _unwrap(value, "Pipeline", source)
                return pipeline_from_dict(spec, base_dir, prefix=f"{path}.pipeline", source=source)
            return load_pipeline((base_dir / str(value)).resolve())
        if form == "component":
            comp = load_component(value if isinstance(value, dict) else str(value), base_dir)
            return component_pipeline(comp, base_dir)
        if form == "trialSpec":
            return katib_trial_pipeline(template, base_dir)
        raise SpecError(
            "trial templates in a ConfigMap need a cluster; inline the trialSpec instead", path=f"{path}.configMap"
        )
    except SpecError as err:
        if err.source and err.source != source:
            raise
        sub = err.path if err.path.startswith(path) else f"{path}.{form}" + (f".{err.path}" if err.path else "")
        raise SpecError(err.message, path=sub, source=source) from None


def _katib_pod_spec(trial_spec: dict[str, Any]) -> dict[str, Any]:
    kind = trial_spec.get("kind")
    spec = trial_spec.get("spec") or {}
    if kind == "Pod":
        return spec
    template = spec.get("template") or {}
    pod = template.get("spec")
    if not isinstance(pod, dict):
        raise SpecError(f"cannot find the pod spec of a {kind or 'trialSpec'} (expected spec.template.spec)")
    return pod


def _split_trial_params(text: str, declared: set[str]) -> Any:
    """``"--lr=${trialParameters.lr}"`` -> ``{concat: ["--lr=", {inputValue: lr}]}``."""
    parts: list[Any] = []
    last = 0
    for match in _TRIAL_PARAM.finditer(text):
        name = match.group(1)
        if name not in declared:
            raise SpecError(f"${{trialParameters.{name}}} is used but not declared in trialParameters")
        if match.start() > last:
            parts.append(text[last : match.start()])
        parts.append({"inputValue": name})
        last = match.end()
    if not parts:
        return text
    if last < len(text):
        parts.append(text[last:])
    return parts[0] if len(parts) == 1 else {"concat": parts}


def katib_trial_pipeline(template: dict[str, Any], base_dir: Path) -> Pipeline:
    """A Katib ``trialSpec`` (Job or Pod) as a one-step pipeline running its primary container."""
    trial_spec = template["trialSpec"]
    if not isinstance(trial_spec, dict):
        raise SpecError("expected a Job or Pod manifest", path="trialSpec")
    pod = _katib_pod_spec(trial_spec)
    containers = pod.get("containers") or []
    if not containers:
        raise SpecError("the trial pod has no containers", path="trialSpec")
    primary = template.get("primaryContainerName")
    chosen = next((c for c in containers if c.get("name") == primary), None) if primary else containers[0]
    if chosen is None:
        names = [c.get("name") for c in containers]
        raise SpecError(f"no container named {primary!r} (containers: {names})", path="primaryContainerName")
    params = template.get("trialParameters") or []
    declared = {str(p.get("name")) for p in params if isinstance(p, dict)}
    command = [_split_trial_params(str(c), declared) for c in chosen.get("command") or []]
    args = [_split_trial_params(str(a), declared) for a in chosen.get("args") or []]
    if not command and not args:
        raise SpecError("the primary container has no command or args to run locally", path="trialSpec")
    env = {str(e["name"]): str(e.get("value", "")) for e in chosen.get("env") or [] if "value" in e}
    step_name = str(chosen.get("name") or "main")
    component = {
        "name": step_name,
        "inputs": [{"name": n, "type": "String"} for n in sorted(declared)],
        "implementation": {
            "container": {"image": chosen.get("image", ""), "command": command, "args": args, "env": env}
        },
    }
    comp = validate_model(Component, component, prefix="trialSpec")
    return Pipeline.model_validate(
        {
            "name": "katib-trial",
            "parameters": [{"name": n, "type": "String"} for n in sorted(declared)],
            "steps": [
                {
                    "name": step_name if _valid_name(step_name) else "main",
                    "component": comp,
                    "arguments": {n: f"{{{{params.{n}}}}}" for n in sorted(declared)},
                }
            ],
            "base_dir": str(base_dir),
        }
    )


def trial_bindings(experiment: ExperimentSpec) -> dict[str, str]:
    """Pipeline parameter -> search parameter (or ``${trialSpec.*}`` metadata) that fills it."""
    template = experiment.trial_template
    if template.trial_parameters:
        return {tp.name: tp.reference or tp.name for tp in template.trial_parameters}
    assert template.pipeline is not None
    names = {p.name for p in template.pipeline.parameters}
    return {p.name: p.name for p in experiment.parameters if p.name in names}


def check_bindings(experiment: ExperimentSpec, prefix: str, source: str) -> None:
    """Every search parameter reaches the pipeline, every required pipeline parameter is filled."""
    pipeline = experiment.trial_template.pipeline
    assert pipeline is not None
    where = f"{prefix + '.' if prefix else ''}trialTemplate"
    bindings = trial_bindings(experiment)
    pipeline_params = {p.name: p for p in pipeline.parameters}
    for name in bindings:
        if name not in pipeline_params:
            raise SpecError(
                f"trial parameter {name!r} is not a parameter of pipeline {pipeline.name!r} "
                f"(its parameters: {sorted(pipeline_params)})",
                path=f"{where}.trialParameters",
                source=source,
            )
    used = set(bindings.values())
    for index, param in enumerate(experiment.parameters):
        if param.name not in used:
            raise SpecError(
                f"parameter {param.name!r} is not used by the trial template "
                f"(pipeline {pipeline.name!r} takes {sorted(pipeline_params)})",
                path=f"{prefix + '.' if prefix else ''}parameters[{index}]",
                source=source,
            )
    for name in experiment.trial_template.arguments:
        if name not in pipeline_params:
            raise SpecError(f"pipeline {pipeline.name!r} has no parameter {name!r}", path=f"{where}.arguments.{name}", source=source)
    for name, param in pipeline_params.items():
        filled = name in bindings or name in experiment.trial_template.arguments
        if not filled and param.default is None and not param.optional:
            raise SpecError(
                f"pipeline parameter {name!r} has no default and no value: bind it with a search parameter "
                "of the same name, trialParameters, or arguments",
                path=where,
                source=source,
            )
