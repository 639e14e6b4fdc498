"""Loaders: Workbench YAML, Katib ``v1beta1`` Experiment YAML, KFP v1 ``component.yaml``.

Every loader returns validated models or raises ``SpecError`` naming the file and
the field path; no other exception escapes. Loading reads files only (and imports
the Python files of ``FILE.py:FUNCTION`` components); it never touches a store.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from workbench.errors import SpecError, join_path
from workbench.spec._component import Component
from workbench.spec._experiment import API_VERSION, KATIB_API_VERSION, ExperimentSpec, TrialTemplate
from workbench.spec._pipeline import Pipeline
from workbench.spec._validation import check_name, is_valid_name, slug, validate_model
from workbench.spec._yaml import read_yaml

#: ``${trialParameters.NAME}`` in a Katib trialSpec (anything up to ``}`` is a name, as in Katib).
_TRIAL_PARAM = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_PY_REF = re.compile(r"^(?P<file>[^:]+\.py):(?P<function>[A-Za-z_]\w*)$")
#: Keys of a ``{apiVersion, kind, metadata, spec}`` document.
_DOC_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")

F = TypeVar("F", bound=Callable[..., Any])


def _loader(func: F) -> F:
    """Make sure nothing but ``SpecError`` leaves a public loader.

    An unexpected exception is a bug in Workbench; it still becomes a ``SpecError``
    (whose message starts with ``internal error``) so that callers see one error type.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecError:
            raise
        except RecursionError:
            raise SpecError("the document is nested too deeply") from None
        except Exception as err:  # pragma: no cover - only reached through bugs
            raise SpecError(f"internal error while loading the spec: {type(err).__name__}: {err}") from err

    return wrapper  # type: ignore[return-value]


def _cwd() -> Path:
    try:
        return Path.cwd()
    except OSError:
        return Path("/")


def _as_path(value: Any) -> Path:
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        try:
            return Path(value).resolve()
        except (OSError, ValueError, TypeError, RuntimeError):
            return Path(value)
    raise SpecError(f"expected a file path, got {_kind_of(value)}")


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------- templates


def template_dirs() -> list[Path]:
    """Where trial templates are looked up: ``$WORKBENCH_TEMPLATES``, ``./trials``, the bundled catalog."""
    dirs = [Path(p) for p in os.environ.get("WORKBENCH_TEMPLATES", "").split(os.pathsep) if p]
    dirs.append(_cwd() / "trials")
    dirs.append(Path(__file__).resolve().parents[2] / "trials")
    seen: list[Path] = []
    for d in dirs:
        try:
            if d.is_dir() and d.resolve() not in seen:
                seen.append(d.resolve())
        except (OSError, ValueError):
            continue
    return seen


def list_templates() -> dict[str, Path]:
    """Catalog name -> pipeline file, first directory wins."""
    found: dict[str, Path] = {}
    for d in template_dirs():
        try:
            children = sorted(d.iterdir())
        except OSError:
            continue
        for child in children:
            pipeline = child / "pipeline.yaml"
            if child.name not in found and pipeline.is_file():
                found[child.name] = pipeline
    return found


def find_template(ref: str, base_dir: Path) -> Path:
    """A template given by catalog name, by directory or by pipeline file path."""
    try:
        candidate = (base_dir / ref).resolve()
        if candidate.is_dir() and (candidate / "pipeline.yaml").is_file():
            return candidate / "pipeline.yaml"
        if candidate.is_file():
            return candidate
    except (OSError, ValueError):
        pass
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
    except (Exception, SystemExit) as err:  # the user's code: report whatever it raised
        sys.modules.pop(name, None)
        raise SpecError(f"importing it failed: {type(err).__name__}: {err}", source=str(path)) from None
    return module


def python_component(ref: str, base_dir: Path) -> Component:
    """``steps.py:train`` -> the component spec of that (decorated) function."""
    from workbench.dsl import PythonComponent, describe

    match = _PY_REF.match(ref)
    if not match:
        raise SpecError(f"expected FILE.py:FUNCTION, got {ref!r}")
    try:
        path = (base_dir / match["file"]).resolve()
        found = path.is_file()
    except (OSError, ValueError):
        found = False
        path = base_dir / match["file"]
    if not found:
        raise SpecError(f"Python file {str(path)!r} not found")
    module = _import_file(path)
    obj = getattr(module, match["function"], None)
    if obj is None:
        raise SpecError(f"{path.name} defines no function {match['function']!r}")
    func = obj.func if isinstance(obj, PythonComponent) else obj
    if not callable(func):
        raise SpecError(f"{match['function']!r} in {path.name} is not a function")
    try:
        data = describe(func)
    except Exception as err:  # annotations that cannot be resolved, builtins without a signature, ...
        raise SpecError(f"cannot read the signature of {match['function']!r}: {type(err).__name__}: {err}") from None
    data["implementation"]["python"]["file"] = str(path)
    data["implementation"]["python"]["function"] = match["function"]
    return validate_model(Component, data, source=str(path))


@_loader
def load_component(ref: str | Path | dict[str, Any] | Component, base_dir: Path | None = None) -> Component:
    """A component from a KFP v1 / Workbench YAML file, a ``file.py:function`` ref, or a mapping.

    Example:
        >>> c = load_component({"name": "noop", "implementation": {"container": {"command": ["true"]}}})
        >>> c.name
        'noop'
    """
    base = Path(base_dir) if base_dir is not None else _cwd()
    if isinstance(ref, Component):
        return ref
    if isinstance(ref, dict):
        return _component_from_dict(ref, base, source=None)
    if not isinstance(ref, (str, Path)):
        raise SpecError(f"expected a component file, FILE.py:FUNCTION or a mapping, got {_kind_of(ref)}")
    text = str(ref)
    if not text.strip():
        raise SpecError("expected a component file or FILE.py:FUNCTION, got an empty string")
    if _PY_REF.match(text):
        return python_component(text, base)
    try:
        path = (base / text).resolve()
        exists = path.is_file()
    except (OSError, ValueError):
        path, exists = base / text, False
    if not exists:
        raise SpecError(f"component file {str(path)!r} not found")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(f"a component file must be a mapping, got {_kind_of(data)}", source=str(path))
    return _component_from_dict(data, path.parent, source=str(path))


def _component_from_dict(data: dict[str, Any], base: Path, source: str | None) -> Component:
    prefix = ""
    if "kind" in data or "apiVersion" in data:  # a ``kind: Component`` document (a KFP component.yaml has neither)
        data, prefix = _unwrap(data, "Component", source, meta_keys=("name", "description"))
    data = dict(data)
    impl = data.get("implementation")
    if isinstance(impl, dict) and isinstance(impl.get("python"), dict):
        py = dict(impl["python"])
        file = py.get("file")
        if isinstance(file, str) and file.strip():
            try:
                resolved = (base / file).resolve()
                found = resolved.is_file()
            except (OSError, ValueError):
                resolved, found = base / file, False
            if not found:
                raise SpecError(
                    f"Python file {str(resolved)!r} not found",
                    path=join_path(prefix, "implementation.python.file"),
                    source=source,
                )
            py["file"] = str(resolved)
        data["implementation"] = {**impl, "python": py}
    return validate_model(Component, data, prefix=prefix, source=source)


# --------------------------------------------------------------------------- documents


def _unwrap(
    data: Any,
    kind: str,
    source: str | None,
    api_versions: tuple[str, ...] = (API_VERSION,),
    meta_keys: tuple[str, ...] = ("name", "namespace", "description"),
) -> tuple[dict[str, Any], str]:
    """Accept ``{apiVersion, kind, metadata, spec}`` documents and bare specs; return (spec, prefix).

    ``metadata.name`` (and the other ``meta_keys``) are copied into the spec.
    """
    if not isinstance(data, dict):
        article = "an" if kind[0] in "AEIOU" else "a"
        raise SpecError(f"expected a mapping ({article} {kind} document), got {_kind_of(data)}", source=source)
    if not any(key in data for key in _DOC_KEYS):
        return dict(data), ""
    for key in data:
        if key not in _DOC_KEYS:
            raise SpecError(
                f"unknown field (a {kind} document has apiVersion, kind, metadata and spec)",
                path=str(key),
                source=source,
            )
    api = data.get("apiVersion")
    if api is None:
        raise SpecError(
            f"required field is missing (expected {' or '.join(api_versions)})", path="apiVersion", source=source
        )
    if api not in api_versions:
        raise SpecError(
            f"unsupported apiVersion {api!r} (expected {' or '.join(api_versions)})", path="apiVersion", source=source
        )
    if data.get("kind") != kind:
        got = data.get("kind")
        message = "required field is missing" if got is None else f"expected kind {kind!r}, got {got!r}"
        raise SpecError(message, path="kind", source=source)
    meta = data.get("metadata")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise SpecError(f"expected a mapping, got {_kind_of(meta)}", path="metadata", source=source)
    if "spec" not in data or data["spec"] is None:
        raise SpecError("required field is missing", path="spec", source=source)
    spec = data["spec"]
    if not isinstance(spec, dict):
        raise SpecError(f"expected a mapping, got {_kind_of(spec)}", path="spec", source=source)
    spec = dict(spec)
    for key in meta_keys:
        if key not in meta:
            continue
        value = meta[key]
        if key in ("name", "namespace"):
            try:
                check_name(value, f"{kind.lower()} {key}" if key == "name" else key)
            except ValueError as err:
                raise SpecError(str(err), path=f"metadata.{key}", source=source) from None
        if key in spec and spec[key] != value:
            raise SpecError(f"conflicts with metadata.{key} ({value!r})", path=f"spec.{key}", source=source)
        spec[key] = value
    if "name" not in spec:
        raise SpecError("required field is missing", path="metadata.name", source=source)
    return spec, "spec"


def pipeline_to_document(pipeline: Pipeline) -> dict[str, Any]:
    """The ``kind: Pipeline`` document of a pipeline; ``pipeline_from_dict`` reloads it into an equal one."""
    body = pipeline.model_dump(by_alias=True, mode="json")
    meta = {"name": body.pop("name")}
    return {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": meta, "spec": body}


def experiment_to_document(spec: ExperimentSpec) -> dict[str, Any]:
    """The ``kind: Experiment`` document of an experiment; ``experiment_from_dict`` reloads it into an equal spec.

    The trial template keeps its original form (``template``, ``component`` or ``trialSpec``)
    next to the resolved ``pipeline``; on reload the stored pipeline is used as it is, so a
    resumed experiment runs exactly what it ran before even if the template changed since.

    Example:
        >>> import json
        >>> doc = experiment_to_document(spec)  # doctest: +SKIP
        >>> experiment_from_dict(json.loads(json.dumps(doc))) == spec  # doctest: +SKIP
        True
    """
    body = spec.model_dump(by_alias=True, mode="json")
    name = body.pop("name")
    namespace = body.pop("namespace")
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


# --------------------------------------------------------------------------- pipelines


@_loader
def pipeline_from_dict(
    data: dict[str, Any], base_dir: Path | None = None, prefix: str = "", source: str | None = None
) -> Pipeline:
    """Validate a pipeline (a bare spec or a ``kind: Pipeline`` document), resolving component references.

    Component files and ``FILE.py:FUNCTION`` references are relative to ``base_dir`` (default: cwd).
    """
    base = Path(base_dir) if base_dir is not None else _cwd()
    try:
        spec, doc_prefix = _unwrap(data, "Pipeline", source, meta_keys=("name", "description"))
    except SpecError as err:  # an inline pipeline document: name the field it sits in
        raise err.within(prefix, source) from None
    if doc_prefix:
        prefix = join_path(prefix, doc_prefix)
    steps = spec.get("steps")
    if isinstance(steps, list):
        spec["steps"] = [
            _resolve_step(step, base, join_path(prefix, f"steps[{index}]"), source) for index, step in enumerate(steps)
        ]
    for key in ("onExit", "on_exit"):
        if isinstance(spec.get(key), dict):
            spec[key] = _resolve_step(spec[key], base, join_path(prefix, key), source)
    if "base_dir" not in spec and "baseDir" not in spec:
        spec["base_dir"] = str(base)
    return validate_model(Pipeline, spec, prefix=prefix, source=source)


#: Pipeline files being loaded (outermost first): a file that appears twice uses itself.
_LOADING: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("workbench_loading", default=())


@_loader
def load_pipeline(path: str | Path) -> Pipeline:
    """Load a pipeline YAML file (``kind: Pipeline`` document or a bare pipeline spec)."""
    p = _as_path(path)
    data = read_yaml(p)
    token = _LOADING.set((*_LOADING.get(), str(p)))
    try:
        return pipeline_from_dict(data, p.parent, source=str(p))
    finally:
        _LOADING.reset(token)


def _is_pipeline_data(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    return data.get("kind") == "Pipeline" or ("steps" in data and "implementation" not in data)


def _resolve_step(step: Any, base: Path, where: str, source: str | None) -> Any:
    """A step mapping with its ``component`` loaded: a component, or a pipeline used as a component."""
    if not isinstance(step, dict) or "component" not in step:
        return step
    step = dict(step)
    where = join_path(where, "component")
    comp = step["component"]
    if isinstance(comp, (Component, Pipeline)):
        return step
    if not isinstance(comp, (str, dict)):
        raise SpecError(
            f"expected a component file, FILE.py:FUNCTION, a pipeline or an inline component, got {_kind_of(comp)}",
            path=where,
            source=source,
        )
    if isinstance(comp, dict) and _is_pipeline_data(comp):  # an inline nested pipeline: errors carry its path
        step["component"] = pipeline_from_dict(comp, base, prefix=where, source=source)
        return step
    try:
        step["component"] = _load_step_component(comp, base)
    except SpecError as err:
        if err.source and err.source != source:
            raise
        raise SpecError(err.message, path=join_path(where, err.path), source=source) from None
    return step


def _load_step_component(comp: str | dict[str, Any], base: Path) -> Component | Pipeline:
    if isinstance(comp, dict):
        return load_component(comp, base)
    text = comp.strip()
    match = _PY_REF.match(text)
    if match:  # a @workbench.pipeline function is a pipeline, a @workbench.component function a component
        try:
            file = (base / match["file"]).resolve()
        except (OSError, ValueError):
            file = base / match["file"]
        if file.is_file():
            obj = getattr(_import_file(file), match["function"], None)
            build = getattr(obj, "__workbench_pipeline__", None)
            if callable(build):
                return build()
        return load_component(text, base)
    try:
        path = (base / text).resolve()
        is_file = path.is_file()
    except (OSError, ValueError):
        path, is_file = base / text, False
    if is_file and path.suffix in (".yaml", ".yml", ".json"):
        data = read_yaml(path)
        if _is_pipeline_data(data):
            chain = _LOADING.get()
            if str(path) in chain:
                cycle = [Path(f).name for f in chain[chain.index(str(path)) :]] + [path.name]
                raise SpecError(f"recursion: pipeline {path.name} uses itself ({' -> '.join(cycle)})")
            return load_pipeline(path)
    return load_component(text, base)


def component_pipeline(component: Component, base_dir: Path) -> Pipeline:
    """A one-step pipeline whose parameters are the component's (non-artifact) inputs.

    Input names that are not valid parameter names (KFP allows ``Learning rate``) get a
    slug (``learning-rate``) as parameter name.
    """
    params = []
    arguments = {}
    for item in component.inputs:
        if item.is_artifact:
            if item.default is None and not item.optional:
                raise SpecError(
                    f"component {component.name!r} needs the input artifact {item.name!r}; a component used as the "
                    "trial template takes parameters only: use a pipeline whose earlier step produces it"
                )
            continue
        name = item.name if is_valid_name(item.name) else slug(item.name, fallback="")
        if not name or any(p["name"] == name for p in params):
            continue
        params.append({**item.model_dump(), "name": name})
        arguments[item.name] = f"{{{{params.{name}}}}}"
    return validate_model(
        Pipeline,
        {
            "name": slug(component.name, fallback="component"),
            "parameters": params,
            "steps": [{"name": slug(component.name), "component": component, "arguments": arguments}],
            "base_dir": str(base_dir),
        },
    )


# --------------------------------------------------------------------------- experiments


@_loader
def load_experiment(path: str | Path) -> ExperimentSpec:
    """Load a Workbench or Katib ``v1beta1`` Experiment YAML file.

    Katib files run unchanged: their trial's primary container command becomes a
    one-step pipeline (a process locally, the pod it describes on Kubernetes).
    """
    p = _as_path(path)
    data = read_yaml(p)
    return experiment_from_dict(data, p.parent, source=str(p))


@_loader
def experiment_from_dict(data: Any, base_dir: Path | None = None, source: str | None = None) -> ExperimentSpec:
    """Validate an Experiment (Workbench or Katib document, or a bare spec) and resolve its trial template.

    Relative paths in the trial template are resolved against ``base_dir`` (default: cwd).
    """
    base = Path(base_dir) if base_dir is not None else _cwd()
    src = source or "<experiment>"
    spec, prefix = _unwrap(data, "Experiment", src, (API_VERSION, KATIB_API_VERSION), meta_keys=("name", "namespace"))
    tt_path = join_path(prefix, "trialTemplate")
    keys = [k for k in ("trialTemplate", "trial_template") if k in spec]
    if len(keys) > 1:
        raise SpecError("give trialTemplate once", path=tt_path, source=src)
    raw = spec.pop(keys[0]) if keys else None
    if raw is None:
        raise SpecError(
            "required field is missing (give template, pipeline, component or trialSpec)", path=tt_path, source=src
        )
    if isinstance(raw, TrialTemplate):
        raw = {**raw.model_dump(by_alias=True, exclude_none=True), "pipeline": raw.pipeline}
    if not isinstance(raw, dict):
        raise SpecError(f"expected a mapping, got {_kind_of(raw)}", path=tt_path, source=src)
    raw = dict(raw)
    given_pipeline = raw.pop("pipeline", None)
    if isinstance(raw.get("component"), Component):
        raw["component"] = raw["component"].model_dump(by_alias=True, mode="json")
    spec["trialTemplate"] = raw
    experiment = validate_model(ExperimentSpec, spec, prefix=prefix, source=src)
    template = experiment.trial_template
    template.pipeline = resolve_trial_pipeline(template, given_pipeline, base, tt_path, src)
    check_bindings(experiment, prefix, src)
    if experiment.warm_start is not None and experiment.warm_start.csv:
        # Relative to the experiment file, like every other path in it; stored absolute.
        experiment.warm_start.csv = str((base / experiment.warm_start.csv).resolve())
    return experiment


def _is_resolved_pipeline(value: Any) -> bool:
    """A pipeline stored by ``experiment_to_document`` (it carries its ``baseDir``)."""
    return isinstance(value, Pipeline) or (isinstance(value, dict) and ("baseDir" in value or "base_dir" in value))


def resolve_trial_pipeline(
    template: TrialTemplate, given_pipeline: Any, base_dir: Path, path: str, source: str
) -> Pipeline:
    """Turn whichever trial template form is given into a ``Pipeline``.

    ``given_pipeline`` is the raw ``pipeline`` field. It may come with another form only when
    it is the resolved pipeline written by :func:`experiment_to_document`.
    """
    forms = [
        name
        for name, value in (
            ("template", template.template),
            ("component", template.component),
            ("trialSpec", template.trial_spec),
            ("configMap", template.config_map),
        )
        if value is not None
    ]
    if given_pipeline is not None:
        if forms and not _is_resolved_pipeline(given_pipeline):
            raise SpecError(
                f"give exactly one of template, pipeline, component or trialSpec (got {['pipeline', *forms]})",
                path=path,
                source=source,
            )
        return _pipeline_value(given_pipeline, base_dir, f"{path}.pipeline", source)
    if len(forms) != 1:
        raise SpecError(
            f"give exactly one of template, pipeline, component or trialSpec (got {forms or 'none'})",
            path=path,
            source=source,
        )
    form = forms[0]
    where = path if form == "trialSpec" else f"{path}.{form}"
    try:
        if form == "template":
            assert template.template is not None
            return load_pipeline(find_template(template.template, base_dir))
        if form == "component":
            assert template.component is not None
            return component_pipeline(load_component(template.component, base_dir), base_dir)
        if form == "trialSpec":
            return katib_trial_pipeline(template, base_dir)
        raise SpecError("trial templates in a ConfigMap need a cluster; inline the trialSpec instead")
    except SpecError as err:
        if err.source and err.source != source:
            raise
        raise SpecError(err.message, path=join_path(where, err.path), source=source) from None


def _pipeline_value(value: Any, base_dir: Path, path: str, source: str) -> Pipeline:
    if isinstance(value, Pipeline):
        return value
    if isinstance(value, dict):
        return pipeline_from_dict(value, base_dir, prefix=path, source=source)
    if isinstance(value, (str, Path)) and str(value).strip():
        try:
            file = (base_dir / str(value)).resolve()
            found = file.is_file()
        except (OSError, ValueError):
            file, found = base_dir / str(value), False
        if not found:
            raise SpecError(f"pipeline file {str(file)!r} not found", path=path, source=source)
        return load_pipeline(file)
    raise SpecError(f"expected a pipeline file or an inline pipeline, got {_kind_of(value)}", path=path, source=source)


# --------------------------------------------------------------------------- Katib trialSpec


def _mapping(value: Any, path: str, what: str = "a mapping") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"expected {what}, got {_kind_of(value)}", path=path)
    return value


def _string_values(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string in a manifest, with its path."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            found.append((where, item))
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return sorted(found)


def _split_trial_params(text: str) -> Any:
    """``"--lr=${trialParameters.lr}"`` -> ``{concat: ["--lr=", {inputValue: lr}]}``."""
    parts: list[Any] = []
    last = 0
    for match in _TRIAL_PARAM.finditer(text):
        if match.start() > last:
            parts.append(text[last : match.start()])
        parts.append({"inputValue": match.group(1)})
        last = match.end()
    if not parts:
        return text
    if last < len(text):
        parts.append(text[last:])
    return parts[0] if len(parts) == 1 else {"concat": parts}


def _command_items(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"expected a list of strings, got {_kind_of(value)}", path=path)
    out = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise SpecError(f"expected a string, got {_kind_of(item)}", path=f"{path}[{index}]")
        out.append(_split_trial_params(str(item)))
    return out


def katib_trial_pipeline(template: TrialTemplate | dict[str, Any], base_dir: Path | None = None) -> Pipeline:
    """A Katib ``trialSpec`` (a Job or a Pod) as a one-step pipeline running its primary container.

    Errors name paths relative to the trial template (``trialSpec.spec.template.spec.containers[0]``).
    Like Katib, every ``${trialParameters.x}`` in the trialSpec must be declared and every
    declared trial parameter must be used.
    """
    if isinstance(template, dict):
        template = validate_model(TrialTemplate, {k: v for k, v in template.items() if k != "pipeline"})
    trial_spec = _mapping(template.trial_spec, "trialSpec", "a Job or Pod manifest")
    kind = trial_spec.get("kind")
    if kind not in ("Job", "Pod"):
        raise SpecError(
            f"expected kind Job or Pod, got {kind!r} (other kinds such as TFJob or PyTorchJob cannot run locally)",
            path="trialSpec.kind",
        )
    spec = _mapping(trial_spec.get("spec"), "trialSpec.spec")
    if kind == "Pod":
        pod, pod_path = spec, "trialSpec.spec"
    else:
        pod_template = _mapping(spec.get("template"), "trialSpec.spec.template", "a pod template (a mapping)")
        pod_path = "trialSpec.spec.template.spec"
        pod = _mapping(pod_template.get("spec"), pod_path, "a pod spec (a mapping)")
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        raise SpecError("expected a non-empty list of containers", path=f"{pod_path}.containers")
    for index, container in enumerate(containers):
        _mapping(container, f"{pod_path}.containers[{index}]", "a container (a mapping)")
    primary = template.primary_container_name
    if primary is not None:
        indexes = [i for i, c in enumerate(containers) if c.get("name") == primary]
        if not indexes:
            names = [c.get("name") for c in containers]
            raise SpecError(f"no container named {primary!r} (containers: {names})", path="primaryContainerName")
        index = indexes[0]
    else:
        index = 0
    chosen = containers[index]
    cpath = f"{pod_path}.containers[{index}]"

    command = _command_items(chosen.get("command"), f"{cpath}.command")
    args = _command_items(chosen.get("args"), f"{cpath}.args")
    if not command and not args:
        raise SpecError("the primary container has no command or args to run locally", path=cpath)
    declared = [tp.name for tp in template.trial_parameters]
    used: set[str] = set()
    for where, text in _string_values(trial_spec, "trialSpec"):
        for match in _TRIAL_PARAM.finditer(text):
            name = match.group(1)
            if name not in declared:
                raise SpecError(
                    f"${{trialParameters.{name}}} is used but not declared in trialParameters (declared: {declared})",
                    path=where,
                )
            used.add(name)
    for tp_index, name in enumerate(declared):
        if name not in used:
            raise SpecError(
                f"trial parameter {name!r} is not used in trialSpec (write ${{trialParameters.{name}}} where it goes)",
                path=f"trialParameters[{tp_index}].name",
            )

    env: dict[str, str] = {}
    raw_env = chosen.get("env")
    if raw_env is not None:
        if not isinstance(raw_env, list):
            raise SpecError(f"expected a list of {{name, value}}, got {_kind_of(raw_env)}", path=f"{cpath}.env")
        for e_index, item in enumerate(raw_env):
            where = f"{cpath}.env[{e_index}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise SpecError("expected {name: NAME, value: VALUE}", path=where)
            if "value" not in item:
                continue  # valueFrom: resolved by Kubernetes only
            value = item["value"]
            if isinstance(value, bool) or not isinstance(value, (str, int, float, type(None))):
                raise SpecError(f"expected a string, got {_kind_of(value)}", path=f"{where}.value")
            text = "" if value is None else str(value)
            if _TRIAL_PARAM.search(text):
                raise SpecError(
                    "${trialParameters.*} in an environment variable cannot be filled when the trial runs as a "
                    "local process; pass it in the command or args instead",
                    path=f"{where}.value",
                )
            env[item["name"]] = text
    image = chosen.get("image", "")
    if not isinstance(image, str):
        raise SpecError(f"expected a string, got {_kind_of(image)}", path=f"{cpath}.image")
    working_dir = chosen.get("workingDir")
    if working_dir is not None and not isinstance(working_dir, str):
        raise SpecError(f"expected a string, got {_kind_of(working_dir)}", path=f"{cpath}.workingDir")
    raw_name = chosen.get("name")
    step_name = slug(raw_name) if isinstance(raw_name, str) else "main"
    container: dict[str, Any] = {"image": image, "command": command, "args": args, "env": env}
    if working_dir:
        container["workingDir"] = working_dir
    component = {
        "name": step_name,
        "inputs": [{"name": n, "type": "String"} for n in declared],
        "implementation": {"container": container},
        # On Kubernetes the trial runs as the pod the trialSpec describes (the primary container runs the command).
        "kubernetes": {
            "podTemplate": trial_spec_pod(trial_spec, pod),
            "primaryContainer": raw_name if isinstance(raw_name, str) else None,
            "retain": template.retain or None,
        },
    }
    comp = validate_model(Component, component, prefix=cpath)
    arguments = {n: f"{{{{params.{n}}}}}" for n in declared}
    return validate_model(
        Pipeline,
        {
            "name": "katib-trial",
            "parameters": [{"name": n, "type": "String"} for n in declared],
            "steps": [{"name": step_name, "component": comp, "arguments": arguments}],
            "base_dir": str(base_dir if base_dir is not None else _cwd()),
        },
        prefix="trialSpec",
    )


def trial_spec_pod(trial_spec: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """The pod template (``{metadata, spec}``) of a Katib ``trialSpec`` (a Pod, or a Job's ``spec.template``)."""
    if trial_spec.get("kind") == "Pod":
        meta = trial_spec.get("metadata")
    else:
        meta = (trial_spec.get("spec") or {}).get("template", {}).get("metadata")
    out: dict[str, Any] = {"spec": pod}
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k in ("labels", "annotations")}
    return out


# --------------------------------------------------------------------------- bindings


def trial_bindings(experiment: ExperimentSpec) -> dict[str, str]:
    """Pipeline parameter -> search parameter (or ``${trialSpec.*}`` metadata) that fills it."""
    template = experiment.trial_template
    if template.trial_parameters:
        return {tp.name: tp.reference or tp.name for tp in template.trial_parameters}
    if template.pipeline is None:
        return {}
    names = {p.name for p in template.pipeline.parameters}
    return {p.name: p.name for p in experiment.parameters if p.name in names}


def check_bindings(experiment: ExperimentSpec, prefix: str, source: str | None) -> None:
    """Every search parameter reaches the pipeline, every required pipeline parameter is filled."""
    pipeline = experiment.trial_template.pipeline
    if pipeline is None:
        raise SpecError("the trial template has no pipeline", path=join_path(prefix, "trialTemplate"), source=source)
    where = join_path(prefix, "trialTemplate")
    template = experiment.trial_template
    bindings = trial_bindings(experiment)
    pipeline_params = {p.name: p for p in pipeline.parameters}
    for index, tp in enumerate(template.trial_parameters):
        if tp.name not in pipeline_params:
            raise SpecError(
                f"trial parameter {tp.name!r} is not a parameter of pipeline {pipeline.name!r} "
                f"(its parameters: {sorted(pipeline_params)})",
                path=f"{where}.trialParameters[{index}].name",
                source=source,
            )
    used = set(bindings.values())
    for index, param in enumerate(experiment.parameters):
        if param.name not in used:
            hint = (
                "add a trialParameters entry with this reference"
                if template.trial_parameters
                else f"pipeline {pipeline.name!r} takes {sorted(pipeline_params)}"
            )
            raise SpecError(
                f"parameter {param.name!r} is not used by the trial template ({hint})",
                path=join_path(prefix, f"parameters[{index}]"),
                source=source,
            )
    for name in template.arguments:
        if name not in pipeline_params:
            raise SpecError(
                f"pipeline {pipeline.name!r} has no parameter {name!r} (its parameters: {sorted(pipeline_params)})",
                path=f"{where}.arguments.{name}",
                source=source,
            )
        if name in bindings:
            raise SpecError(
                f"pipeline parameter {name!r} is already set by the search parameter {bindings[name]!r}",
                path=f"{where}.arguments.{name}",
                source=source,
            )
    for name, param in pipeline_params.items():
        filled = name in bindings or name in template.arguments
        if not filled and param.default is None and not param.optional:
            raise SpecError(
                f"pipeline parameter {name!r} has no default and no value: bind it with a search parameter "
                "of the same name, trialParameters, or arguments",
                path=where,
                source=source,
            )
