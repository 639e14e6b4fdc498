"""Pod settings of a component or a step: what the ``kubernetes`` backend puts in its pod.

Locally these settings are ignored. In YAML (component or step)::

    kubernetes:
      image: registry.example.com/team/train:1.4     # Python components (container components use their image)
      resources: {cpu: "2", memory: 4Gi, gpu: 1}    # requests = limits; or requests: {...}, limits: {...}
      nodeSelector: {pool: gpu}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      serviceAccountName: trainer
      imagePullSecrets: [regcred]
      priorityClassName: batch-low
      securityContext: {runAsUser: 0, runAsNonRoot: false}   # loosen the secure default explicitly
      retain: true                                  # keep the pod after the step ends

A step's settings are merged over its component's (mappings key by key, lists replaced).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from workbench.spec._component import SpecModel
from workbench.spec._validation import FieldError, json_value

#: A Kubernetes resource quantity: ``500m``, ``2``, ``1.5``, ``4Gi``, ``1e3``.
QUANTITY = re.compile(r"^\+?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
GPU_RESOURCE = "nvidia.com/gpu"

_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_AFFINITY_KEYS = {"nodeAffinity", "podAffinity", "podAntiAffinity"}
_CONTAINER_SECURITY_KEYS = {
    "allowPrivilegeEscalation", "appArmorProfile", "capabilities", "privileged", "procMount",
    "readOnlyRootFilesystem", "runAsGroup", "runAsNonRoot", "runAsUser", "seLinuxOptions", "seccompProfile",
    "windowsOptions",
}  # fmt: skip
_POD_SECURITY_KEYS = {
    "appArmorProfile", "fsGroup", "fsGroupChangePolicy", "runAsGroup", "runAsNonRoot", "runAsUser",
    "seLinuxChangePolicy", "seLinuxOptions", "seccompProfile", "supplementalGroups", "supplementalGroupsPolicy",
    "sysctls", "windowsOptions",
}  # fmt: skip


def _quantity(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FieldError(path, f"expected a quantity such as 500m, 2 or 4Gi, got {type(value).__name__}")
    text = str(value).strip()
    if not QUANTITY.match(text):
        raise FieldError(path, f"{text!r} is not a Kubernetes quantity (examples: 500m, 2, 1.5, 512Mi, 4Gi)")
    return text


def _quantities(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _quantity(v, str(k)) for k, v in value.items()}
    return value


def _check_keys(value: dict[str, Any], allowed: set[str], what: str) -> None:
    for key in value:
        if key not in allowed:
            raise FieldError(str(key), f"unknown {what} field (expected one of {', '.join(sorted(allowed))})")


class ResourcesSpec(SpecModel):
    """CPU, memory and GPUs. ``cpu``/``memory`` set request and limit alike; ``gpu`` sets ``nvidia.com/gpu``."""

    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = Field(None, ge=0)
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _q(cls, value: Any) -> Any:
        return None if value is None else _quantity(value, "")

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _qs(cls, value: Any) -> Any:
        return _quantities(value)

    def requirements(self) -> dict[str, dict[str, str]]:
        """The container's ``resources`` block (explicit requests/limits win over the shorthands)."""
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        for name, value in (("cpu", self.cpu), ("memory", self.memory)):
            if value is not None:
                requests[name] = limits[name] = value
        if self.gpu:
            limits[GPU_RESOURCE] = str(self.gpu)
        requests.update(self.requests)
        limits.update(self.limits)
        out: dict[str, dict[str, str]] = {}
        if requests:
            out["requests"] = requests
        if limits:
            out["limits"] = limits
        return out


class KubernetesSpec(SpecModel):
    """Pod settings for the ``kubernetes`` backend (ignored by the local backend)."""

    image: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    resources: ResourcesSpec | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    affinity: dict[str, Any] | None = None
    service_account_name: str | None = None
    image_pull_secrets: list[str] = Field(default_factory=list)
    priority_class_name: str | None = None
    #: Container ``securityContext`` fields merged over the secure default (non-root, no privilege escalation,
    #: every capability dropped, seccomp RuntimeDefault): loosening it is always explicit.
    security_context: dict[str, Any] | None = None
    #: Pod ``securityContext`` fields merged over the default (``runAsNonRoot``, uid/gid 1000, seccomp).
    pod_security_context: dict[str, Any] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    #: Keep the pod after the step ends (for debugging); pods are deleted by default.
    retain: bool | None = None
    #: A Katib ``trialSpec``'s pod template (``{metadata, spec}``): the pod the step runs as.
    pod_template: dict[str, Any] | None = None
    #: The container of ``pod_template`` that runs the step's command (default: the first).
    primary_container: str | None = None

    @field_validator("node_selector", "affinity", "security_context", "pod_security_context", "pod_template",
                     "tolerations", mode="before")  # fmt: skip
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json_value(value) if isinstance(value, (dict, list)) else value

    @field_validator("tolerations")
    @classmethod
    def _tolerations(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, item in enumerate(value):
            try:
                _check_keys(item, _TOLERATION_KEYS, "toleration")
            except FieldError as err:
                raise FieldError(f"[{index}].{err.path}", err.message) from None
            if item.get("operator", "Equal") not in ("Equal", "Exists"):
                raise FieldError(f"[{index}].operator", "expected Equal or Exists")
        return value

    @field_validator("affinity")
    @classmethod
    def _affinity(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_keys(value, _AFFINITY_KEYS, "affinity")
        return value

    @field_validator("security_context")
    @classmethod
    def _security(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_keys(value, _CONTAINER_SECURITY_KEYS, "container securityContext")
        return value

    @field_validator("pod_security_context")
    @classmethod
    def _pod_security(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_keys(value, _POD_SECURITY_KEYS, "pod securityContext")
        return value

    @field_validator("image_pull_secrets", mode="before")
    @classmethod
    def _pull_secrets(cls, value: Any) -> Any:
        # Accept the Kubernetes form [{name: regcred}] as well as [regcred].
        if isinstance(value, list):
            return [item["name"] if isinstance(item, dict) and "name" in item else item for item in value]
        return value

    @field_validator("service_account_name", "priority_class_name")
    @classmethod
    def _dns(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid Kubernetes name (lowercase letters, digits, '-', '.')")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not _LABEL_KEY.match(key):
                raise FieldError(key, "not a valid label key")
            if not _LABEL_VALUE.match(text):
                raise FieldError(key, f"{text!r} is not a valid label value (63 letters, digits, '-', '_', '.')")
        return value

    def merged(self, over: KubernetesSpec | None) -> KubernetesSpec:
        """These settings with ``over``'s set fields on top (mappings merged, lists and scalars replaced)."""
        if over is None:
            return self
        base = self.model_dump(exclude_unset=True)
        for name in over.model_fields_set:
            value = getattr(over, name)
            if name == "resources" and value is not None and self.resources is not None:
                mine = self.resources.model_dump(exclude_unset=True)
                theirs = value.model_dump(exclude_unset=True)
                for key in ("requests", "limits"):
                    if key in theirs:
                        theirs[key] = {**mine.get(key, {}), **theirs[key]}
                base[name] = {**mine, **theirs}
            elif isinstance(value, dict) and isinstance(base.get(name), dict) and name != "pod_template":
                base[name] = {**base[name], **value}
            else:
                base[name] = value.model_dump(exclude_unset=True) if isinstance(value, SpecModel) else value
        return KubernetesSpec.model_validate(base)

    def settings(self) -> dict[str, Any]:
        """The camelCase form the backend reads (fields left unset are left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def pod_settings(component: Any, step: Any = None) -> dict[str, Any]:
    """The merged pod settings of a step (its component's, then its own), as a camelCase mapping."""
    mine = getattr(component, "kubernetes", None)
    theirs = getattr(step, "kubernetes", None) if step is not None else None
    if mine is None and theirs is None:
        return {}
    merged = (mine or KubernetesSpec()).merged(theirs)
    return merged.settings()


__all__ = ["GPU_RESOURCE", "QUANTITY", "KubernetesSpec", "ResourcesSpec", "pod_settings"]
