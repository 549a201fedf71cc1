"""What a submission's policy is, and how the harness loads one.

A policy is any object with ``reset(seed)`` and ``act(observations) -> actions`` (per-agent
dicts). The harness loads it from ``module:attr`` or from a reference baseline's registered name;
if ``attr`` is a class or function it is called with the freshly reset env (``factory(env)``) so
that a controller can read the task's public parameters (``env.params``). A policy that reads
anything else from the env (e.g. the realised demand path) must declare paradigm ``oracle``.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

PARADIGMS = ("random", "heuristic", "optimization", "oracle", "DTDE", "CTDE", "CTCE")


@runtime_checkable
class Policy(Protocol):
    def reset(self, seed: int) -> None: ...

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PolicyInfo:
    """Metadata written into the result JSON's ``algorithm`` block."""

    name: str
    version: str
    paradigm: str
    description: str
    url: str = ""
    authors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.paradigm not in PARADIGMS:
            raise ValueError(f"policy {self.name!r}: paradigm {self.paradigm!r} is not one of "
                             f"{', '.join(PARADIGMS)}")


@dataclass(frozen=True)
class PolicySource:
    """A loadable policy: a factory ``factory(env) -> Policy`` and its metadata."""

    factory: Callable[[Any], Policy]
    info: PolicyInfo
    ref: str

    def build(self, env: Any) -> Policy:
        policy = self.factory(env)
        if not isinstance(policy, Policy):
            raise TypeError(f"{self.ref} built {type(policy).__name__}, which lacks "
                            "reset(seed) and act(observations)")
        return policy


def privileged_info(factory: Any) -> tuple[str, ...]:
    """The env attributes beyond the public ones (``env.params``, spaces, agents) that a policy
    reads, as it declares them in a class attribute ``privileged`` (e.g. ``("demand_path",)``).
    The harness marks a result ``oracle`` from this declaration (:func:`harness_paradigm`), so the
    label does not depend on what the policy's metadata says."""
    declared = getattr(factory, "privileged", ())
    if isinstance(declared, str):
        declared = (declared,)
    return tuple(str(x) for x in declared or ())


def harness_paradigm(source: "PolicySource") -> str:
    """The paradigm written into a result: ``oracle`` whenever the policy declares privileged
    information, else what its metadata says (a self-declared oracle stays an oracle)."""
    return "oracle" if privileged_info(source.factory) else source.info.paradigm


def _info_from(obj: Any, ref: str) -> PolicyInfo:
    meta = getattr(obj, "info", None)
    if isinstance(meta, PolicyInfo):
        return meta
    name = getattr(obj, "name", None) or ref.rpartition(":")[2]
    return PolicyInfo(name=str(name), version=str(getattr(obj, "version", "0")),
                      paradigm=str(getattr(obj, "paradigm", "DTDE")),
                      description=str(getattr(obj, "description", "") or (obj.__doc__ or "").strip()
                                      .split("\n")[0]))


def load_policy(ref: str) -> PolicySource:
    """Load ``module:attr`` or a registered baseline name (see ``rao-bench baselines --list``)."""
    if ":" not in ref:
        registry = importlib.import_module("baselines.registry")
        return registry.get(ref)
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} for policy {ref!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"policy {ref!r}: {obj!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    info = _info_from(obj, ref)
    if inspect.isclass(obj) or (callable(obj) and not isinstance(obj, Policy)):
        factory = obj
    else:
        factory = lambda env, _p=obj: _p  # noqa: E731 - a ready-made policy instance
    return PolicySource(factory=factory, info=info, ref=ref)
