"""Task registry: Gymnasium's id grammar, released specs found beside their simulators, ``make``.

Ids read ``domain/Name-vN``. Every YAML file under ``tasks/<domain>/specs/`` is a released
version; ``tasks/specs.lock.json`` records the sha256 of each one's canonical content.
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from pettingzoo import ParallelEnv

from bench.spec import EnvConfig, SpecError, TaskSpec, freeze, load_spec_file, thaw

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
LOCK_PATH = TASKS_DIR / "specs.lock.json"
ID_RE = re.compile(r"^(?:(?P<namespace>[\w.-]+)/)?(?P<name>[\w.-]+?)(?:-v(?P<version>\d+))?$")


class RegistryError(ValueError):
    """Base of the registry's errors; each message says what was wrong and what would work."""


class NameNotFound(RegistryError):
    pass


class VersionNotFound(RegistryError):
    pass


class UnknownOption(RegistryError):
    """An override, scale or scenario that the spec does not declare."""


class DeprecatedTaskWarning(UserWarning):
    pass


class UnversionedTaskWarning(UserWarning):
    """An id without ``-vN`` resolves to the newest version; results then depend on when it ran."""


def parse_id(task_id: str) -> tuple[str | None, str, int | None]:
    """Split ``domain/Name-vN`` into (namespace, name, version)."""
    m = ID_RE.match(task_id)
    if not m:
        raise RegistryError(f"malformed task id {task_id!r}: expected 'domain/Name-vN', "
                            "e.g. 'supply_chain/Serial-v1'")
    v = m.group("version")
    return m.group("namespace"), m.group("name"), None if v is None else int(v)


@lru_cache(maxsize=1)
def _specs() -> dict[str, TaskSpec]:
    found: dict[str, TaskSpec] = {}
    for path in sorted(TASKS_DIR.glob("*/specs/*.yaml")):
        spec = load_spec_file(path)
        expected = f"{path.parent.parent.name}/{path.stem}"
        if spec.id != expected:
            raise SpecError(f"{path}: id {spec.id!r} must match its location; expected {expected!r}")
        found[spec.id] = spec
    return found


def task_ids() -> list[str]:
    """Every released task id, sorted."""
    return sorted(_specs())


def newest_task_ids() -> list[str]:
    """The newest version of every task (older versions stay loadable, but are archived)."""
    newest: dict[tuple, tuple[int, str]] = {}
    for t in task_ids():
        ns, base, version = parse_id(t)
        if (ns, base) not in newest or (version or 0) > newest[(ns, base)][0]:
            newest[(ns, base)] = (version or 0, t)
    return sorted(t for _, t in newest.values())


def all_specs() -> list[TaskSpec]:
    return [_specs()[i] for i in task_ids()]


def _close(word: str, options: list[str]) -> str:
    hits = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f" Did you mean {hits[0]!r}?" if hits else ""


def _suggest(task_id: str, version: int | None) -> str:
    """' Did you mean ...?' with a full versioned id (the asked version if that name has it,
    else the newest), so that the suggestion runs as it reads; '' when nothing is close."""
    bare = sorted({re.sub(r"-v\d+$", "", t) for t in _specs()})
    hits = difflib.get_close_matches(re.sub(r"-v[0-9]+$", "", task_id), bare, n=1, cutoff=0.5)
    if not hits:
        return ""
    ns, _, name = hits[0].rpartition("/")
    have = _versions(ns or None, name)
    return f" Did you mean {hits[0] + '-v' + str(version if version in have else have[-1])!r}?"


def _versions(namespace: str | None, name: str) -> list[int]:
    out = []
    for tid in _specs():
        ns, nm, v = parse_id(tid)
        if ns == namespace and nm == name and v is not None:
            out.append(v)
    return sorted(out)


def get_spec(task_id: str, *, warn_old: bool = True) -> TaskSpec:
    """The released spec for ``task_id``; without a version, the newest one."""
    ns, name, version = parse_id(task_id)
    versions = _versions(ns, name)
    if not versions:
        raise NameNotFound(f"no task named {task_id!r}.{_suggest(task_id, version)}"
                           " Run `rao-bench tasks` to list them.")
    stem = f"{ns}/{name}" if ns else name
    if version is None:
        version = versions[-1]
        warnings.warn(f"{task_id!r} names no version; resolved to the newest, {stem}-v{version}. "
                      f"Write {stem}-v{version} to pin it (a later release would otherwise change "
                      "what this id runs).", UnversionedTaskWarning, stacklevel=3)
    if version not in versions:
        raise VersionNotFound(f"task {stem!r} has no version v{version}; released versions: "
                              + ", ".join(f"{stem}-v{v}" for v in versions))
    if warn_old and version < versions[-1]:
        warnings.warn(f"{stem}-v{version} is out of date; the newest version is {stem}-v{versions[-1]}",
                      DeprecatedTaskWarning, stacklevel=3)
    return _specs()[f"{stem}-v{version}"]


def load_entry_point(entry_point: str) -> Any:
    module, _, attr = entry_point.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def env_config(task_id: str, scale: str | None = None, scenario: str | None = None,
               **overrides: Any) -> EnvConfig:
    """Resolve scale, scenario and overrides against the spec, without building the env."""
    spec = get_spec(task_id)
    scale_names = [s.name for s in spec.scales]
    if scale is None:
        scale_spec = spec.nominal_scale
    elif scale in scale_names:
        scale_spec = spec.scale(scale)
    else:
        raise UnknownOption(f"{spec.id} has no scale {scale!r}; scales: {', '.join(scale_names)}."
                            + _close(scale, scale_names))
    scen_names = [s.name for s in spec.scenarios]
    if scenario is None:
        scen_spec = spec.nominal_scenario
    elif scenario in scen_names:
        scen_spec = spec.scenario(scenario)
    else:
        raise UnknownOption(f"{spec.id} has no scenario {scenario!r}; scenarios: "
                            f"{', '.join(scen_names)}." + _close(scenario, scen_names))
    allowed = sorted(set(spec.parameters) | {"horizon"})
    for key in overrides:
        if key not in allowed:
            raise UnknownOption(f"{spec.id} has no parameter {key!r}.{_close(key, allowed)} "
                                f"Parameters: {', '.join(allowed)}")
    # Copy the stored parameters before merging, so that no use can change the spec.
    params = thaw(spec.parameters)
    params.update(thaw(scale_spec.parameters))
    params.update(overrides)
    horizon = int(params.pop("horizon", spec.horizon))
    return EnvConfig(spec=spec, scale=scale_spec, scenario=scen_spec, params=freeze(params),
                     horizon=horizon)


def make(task_id: str, scale: str | None = None, scenario: str | None = None,
         **overrides: Any) -> ParallelEnv:
    """Build a released task as a PettingZoo ``ParallelEnv``.

    ``scale`` and ``scenario`` default to the spec's nominal ones; ``overrides`` may set any of
    the spec's ``parameters`` (or ``horizon``) for research use — results with overrides are not
    eligible for the leaderboard.
    """
    config = env_config(task_id, scale, scenario, **overrides)
    env_cls = load_entry_point(config.spec.entry_point)
    return env_cls(config)


def read_lock() -> dict[str, str]:
    if not LOCK_PATH.exists():
        return {}
    return json.loads(LOCK_PATH.read_text(encoding="utf-8"))


def write_lock() -> dict[str, str]:
    """Record the hash of every released spec (``rao-bench lock``). Refuses to change the hash of
    an id already in the lock: a changed spec must be released as a new version."""
    old = read_lock()
    new = {s.id: s.sha256 for s in all_specs()}
    changed = [i for i in new if i in old and old[i] != new[i]]
    if changed:
        raise SpecError("released specs changed content: " + ", ".join(changed) +
                        ". Restore them and release the change as a new version (-vN+1).")
    merged = dict(sorted({**old, **new}.items()))
    tmp = LOCK_PATH.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    tmp.replace(LOCK_PATH)
    return merged
