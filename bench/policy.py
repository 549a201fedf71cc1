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
from pathlib import Path
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
    """Load ``module:attr`` or a registered baseline name (see ``rao-bench baselines --list``);
    ``REF@DIR`` loads it from the checkpoint directory DIR (:func:`from_checkpoints`)."""
    base, at, checkpoint_dir = ref.partition("@")
    if at:
        return from_checkpoints(load_policy(base), Path(checkpoint_dir))
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


def from_checkpoints(source: PolicySource, checkpoint_dir: Path) -> PolicySource:
    """``source`` loading its trained policy from ``checkpoint_dir`` (``rao-bench evaluate
    --checkpoint-dir``): a reference learner reads its checkpoints there (``with_checkpoints``);
    any other policy is built as ``factory(env, checkpoint_dir)``, and its training block is the
    one the harness wrote there (``bench.training.read_training_file``)."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise FileNotFoundError(f"checkpoint directory {checkpoint_dir} does not exist")
    factory = source.factory
    if hasattr(factory, "with_checkpoints"):
        factory = factory.with_checkpoints(checkpoint_dir)
    else:
        try:
            inspect.signature(factory).bind(None, checkpoint_dir)
        except TypeError:
            raise ValueError(f"policy {source.ref} cannot load from a checkpoint directory: it must "
                             "be a class or function called as factory(env, checkpoint_dir) "
                             "(docs/learners.md)") from None
        except ValueError:
            pass  # no signature to check (a builtin): the call will say
        factory = _FromCheckpoints(source.factory, checkpoint_dir)
    return PolicySource(factory=factory, info=source.info, ref=f"{source.ref}@{checkpoint_dir}")


@dataclass(frozen=True)
class _FromCheckpoints:
    """``factory(env, checkpoint_dir)``, with the training block the harness stored there."""

    factory: Callable[[Any, Path], Policy]
    checkpoint_dir: Path

    def __call__(self, env: Any) -> Policy:
        return self.factory(env, self.checkpoint_dir)

    def training_record(self, task_id: str) -> dict[str, Any]:
        from bench.training import read_training_file

        return read_training_file(self.checkpoint_dir, task_id)
