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

# "centralised": a non-learning controller that decides for every agent from all their observations
# at once (e.g. one LP over every node); the MARL paradigms DTDE/CTDE/CTCE are for learners.
PARADIGMS = ("random", "heuristic", "optimization", "centralised", "oracle", "DTDE", "CTDE", "CTCE")


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
    declared: bool = True  # False when ``info`` was guessed (no PolicyInfo on the object)

    def build(self, env: Any) -> Policy:
        try:
            inspect.signature(self.factory).bind(env)
        except TypeError:
            raise PolicyError(f"policy {self.ref}: {_name(self.factory)} cannot be called as "
                              f"factory(env); give it one parameter for the env (e.g. "
                              "def __init__(self, env)), or point --policy at a ready instance") from None
        except ValueError:
            pass  # no signature to inspect (a builtin): just call it
        policy = self.factory(env)
        if not isinstance(policy, Policy):
            missing = [m for m in ("reset", "act") if not callable(getattr(policy, m, None))]
            raise PolicyError(f"policy {self.ref}: factory(env) returned a {type(policy).__name__}, "
                              f"not a policy (it has no {' or '.join(missing)} method). The factory "
                              "must return an object with reset(seed) and act(observations) -> "
                              "{agent: action}")
        return policy


class PolicyError(ValueError):
    """A policy that cannot be loaded or built as the harness needs (a short, clear message)."""


class PolicyInfoWarning(UserWarning):
    """A policy declares no ``info``: the result's algorithm block is then guessed."""


def _name(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__
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
    import warnings

    warnings.warn(
        f"policy {ref} declares no `info`, so its result would say version '0' and paradigm "
        "'DTDE' (a learner), which is probably wrong. Declare it on the class or function, e.g. "
        "info = PolicyInfo(name='my-policy', version='1.0', paradigm='heuristic', "
        "description='one line', authors=('Your Name',), url='https://...') with paradigm one of "
        f"{', '.join(PARADIGMS)} (from bench.policy import PolicyInfo). `rao-bench evaluate --out` "
        "refuses to write a result without it.", PolicyInfoWarning, stacklevel=3)
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
        raise PolicyError(f"cannot import module {module_name!r} for policy {ref!r}: {exc}. If it is "
                          "your own package, make it importable: `pip install -e .` in its folder "
                          "(with a pyproject.toml), or run with PYTHONPATH=<folder holding it> "
                          "(docs/worked-example.md)") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PolicyError(f"policy {ref!r}: {obj!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    info = _info_from(obj, ref)
    if inspect.isclass(obj) or (callable(obj) and not isinstance(obj, Policy)):
        factory = obj
    else:
        factory = lambda env, _p=obj: _p  # noqa: E731 - a ready-made policy instance
    return PolicySource(factory=factory, info=info, ref=ref, declared=isinstance(getattr(obj, "info", None),
                                                                              PolicyInfo))


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
    return PolicySource(factory=factory, info=source.info, ref=f"{source.ref}@{checkpoint_dir}",
                        declared=source.declared)


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
