"""Frozen task specifications, loaded from the YAML files that sit beside each simulator.

A spec is everything needed to build, evaluate and score a task. It is immutable (frozen
dataclasses, read-only mappings) so that using a task can never change it; a released spec's
canonical content is hashed into ``tasks/specs.lock.json`` so that it cannot drift either.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

import yaml

AGGREGATE_KINDS = ("sum", "mean", "ratio", "turnover", "var_ratio", "quantile")
ACTION_TYPES = ("discrete", "continuous", "mixed")
DIRECTIONS = ("max", "min")


class SpecError(ValueError):
    """A spec file is malformed; the message names the file, the field and the fix."""


class FrozenDict(Mapping):
    """A read-only mapping that pickles and deep-copies (``types.MappingProxyType`` does neither,
    so an env holding its spec could not be copied, sent to a worker process or vectorised).

    Same content, same canonical JSON and hash as the dict it wraps; item assignment raises
    ``TypeError`` as a mapping proxy does.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[Any, Any] = ()) -> None:
        object.__setattr__(self, "_data", MappingProxyType(dict(data)))

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenDict({dict(self._data)!r})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenDict is read-only; thaw() it to get a dict you can change")

    def __reduce__(self) -> tuple[Any, tuple[dict[Any, Any]]]:
        # pickle and copy.deepcopy rebuild it from a plain dict (deep-copied by deepcopy)
        return (FrozenDict, (dict(self._data),))


def freeze(value: Any) -> Any:
    """Deep-freeze YAML data: dicts become read-only mappings, lists become tuples."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts and lists (for JSON, copies and overrides)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def canonical_json(data: Any) -> str:
    """The canonical text of spec content: sorted keys, no whitespace, so that only a change
    of content (not of comments or layout in the YAML) changes the hash."""
    return json.dumps(thaw(data), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_sha256(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """One rung of the scalability ladder: a named size with its fixed agent count."""

    name: str
    agents: int
    nominal: bool
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """Nominal operation, or a held-out shift (``shift`` names its kind and onset step)."""

    name: str
    description: str
    nominal: bool
    shift: Mapping[str, Any] | None

    @property
    def onset(self) -> int | None:
        return None if self.shift is None else int(self.shift["onset"])


@dataclass(frozen=True, slots=True)
class ConstraintSpec:
    """A safety constraint: the env reports, per agent-step, the exceedance beyond ``bound``."""

    name: str
    quantity: str
    bound: float
    unit: str


@dataclass(frozen=True, slots=True)
class KpiSpec:
    """A KPI: how the harness aggregates the env's per-step counters, and its fixed anchors.

    ``anchors`` = (zero, one): the KPI values mapped to 0 and 1 when normalising into V. They are
    frozen in the spec (measured once, ``anchor_source`` says how), never taken from submissions.
    ``scale_anchors`` optionally gives other scales their own (zero, one).
    """

    name: str
    unit: str
    direction: str
    aggregate: Mapping[str, Any]
    anchors: tuple[float, float]
    anchor_source: str
    description: str
    scale_anchors: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def anchors_at(self, scale: str) -> tuple[float, float]:
        """Anchors for ``scale``: its own where the spec gives them (a KPI such as total cost grows
        with the network, so each scale is normalised between its own floor and bound)."""
        return self.scale_anchors.get(scale, self.anchors)

    @property
    def counters(self) -> tuple[str, ...]:
        agg = self.aggregate
        return tuple(agg[k] for k in ("of", "num", "den") if k in agg) + tuple(agg.get("bins", ()))


@dataclass(frozen=True, slots=True)
class HyperScoreParams:
    beta: float = 6.0
    gamma: float = -math.log(2.0)
    kappa: float = 2.5


@dataclass(frozen=True, slots=True)
class SeedSpec:
    """Fixed evaluation seeds and the disjoint half-open training range [train_start, train_stop)."""

    eval: tuple[int, ...]
    train_start: int
    train_stop: int


@dataclass(frozen=True, slots=True)
class RecoverySpec:
    """How recovery after a shock is measured: a rolling ``kpi`` over ``window`` steps must come
    back within a relative ``band`` of its pre-shock level."""

    kpi: str
    window: int
    band: float


@dataclass(frozen=True, slots=True)
class Capabilities:
    action_type: str
    global_state: bool


@dataclass(frozen=True, slots=True)
class TaskSpec:
    id: str
    description: str
    entry_point: str
    horizon: int
    parameters: Mapping[str, Any]
    scales: tuple[ScaleSpec, ...]
    scenarios: tuple[ScenarioSpec, ...]
    constraints: tuple[ConstraintSpec, ...]
    kpis: tuple[KpiSpec, ...]
    weights: Mapping[str, float]
    hyperscore: HyperScoreParams
    seeds: SeedSpec
    recovery: RecoverySpec
    capabilities: Capabilities
    path: Path = field(compare=False)
    sha256: str = field(compare=False)

    @property
    def nominal_scale(self) -> ScaleSpec:
        return next(s for s in self.scales if s.nominal)

    @property
    def nominal_scenario(self) -> ScenarioSpec:
        return next(s for s in self.scenarios if s.nominal)

    @property
    def shift_scenarios(self) -> tuple[ScenarioSpec, ...]:
        return tuple(s for s in self.scenarios if not s.nominal)

    def scale(self, name: str) -> ScaleSpec:
        return next(s for s in self.scales if s.name == name)

    def scenario(self, name: str) -> ScenarioSpec:
        return next(s for s in self.scenarios if s.name == name)

    def kpi(self, name: str) -> KpiSpec:
        return next(k for k in self.kpis if k.name == name)

    @property
    def anchors(self) -> dict[str, tuple[float, float]]:
        """Anchors at the nominal scale."""
        return self.anchors_at(self.nominal_scale.name)

    def anchors_at(self, scale: str) -> dict[str, tuple[float, float]]:
        """Per-KPI (zero, one) anchors used to compute V for episodes at ``scale``."""
        return {k.name: k.anchors_at(scale) for k in self.kpis}

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description for ``rao-bench tasks --json``."""
        return {
            "id": self.id,
            "description": self.description,
            "horizon": self.horizon,
            "sha256": self.sha256,
            "scales": {s.name: s.agents for s in self.scales},
            "nominal_scale": self.nominal_scale.name,
            "scenarios": [s.name for s in self.scenarios],
            "constraints": [c.name for c in self.constraints],
            "kpis": {k.name: {"unit": k.unit, "direction": k.direction} for k in self.kpis},
            "weights": dict(self.weights),
            "eval_seeds": list(self.seeds.eval),
            "train_seeds": [self.seeds.train_start, self.seeds.train_stop],
            "action_type": self.capabilities.action_type,
            "global_state": self.capabilities.global_state,
            "parameters": sorted(self.parameters),
        }


def _need(raw: Mapping[str, Any], key: str, where: str, path: Path) -> Any:
    if key not in raw:
        raise SpecError(f"{path}: {where} is missing required field '{key}'")
    return raw[key]


def _anchor_pair(raw: Mapping[str, Any], direction: str, where: str, path: Path) -> tuple[float, float]:
    zero, one = float(_need(raw, "zero", where, path)), float(_need(raw, "one", where, path))
    if (one > zero) != (direction == "max") or zero == one:
        raise SpecError(f"{path}: {where}: anchors must satisfy one > zero for direction "
                        f"'max' and one < zero for 'min' (got zero={zero}, one={one})")
    return zero, one


def parse_spec(raw: Mapping[str, Any], path: Path) -> TaskSpec:
    """Build a :class:`TaskSpec` from parsed YAML, checking every cross-reference."""
    if not isinstance(raw, Mapping):
        raise SpecError(f"{path}: top level must be a mapping")
    g = lambda key, where="the spec": _need(raw, key, where, path)  # noqa: E731

    scales = tuple(
        ScaleSpec(
            name=str(_need(s, "name", "a scale", path)),
            agents=int(_need(s, "agents", f"scale {s.get('name')}", path)),
            nominal=bool(s.get("nominal", False)),
            parameters=freeze(s.get("parameters", {})),
        )
        for s in g("scales")
    )
    if sum(s.nominal for s in scales) != 1:
        raise SpecError(f"{path}: exactly one scale must be marked 'nominal: true'")
    if [s.agents for s in scales] != sorted(s.agents for s in scales):
        raise SpecError(f"{path}: list scales from fewest to most agents")

    scenarios = tuple(
        ScenarioSpec(
            name=str(_need(s, "name", "a scenario", path)),
            description=str(s.get("description", "")),
            nominal=bool(s.get("nominal", False)),
            shift=freeze(s["shift"]) if s.get("shift") is not None else None,
        )
        for s in g("scenarios")
    )
    if sum(s.nominal for s in scenarios) != 1:
        raise SpecError(f"{path}: exactly one scenario must be marked 'nominal: true'")
    for s in scenarios:
        if s.nominal != (s.shift is None):
            raise SpecError(f"{path}: scenario '{s.name}': the nominal scenario has no 'shift'; "
                            "every other scenario needs 'shift: {{kind: ..., onset: ...}}'")
        if s.shift is not None and not 0 < int(s.shift.get("onset", -1)) < int(g("horizon")):
            raise SpecError(f"{path}: scenario '{s.name}': shift.onset must lie inside (0, horizon)")

    constraints = tuple(
        ConstraintSpec(
            name=str(_need(c, "name", "a constraint", path)),
            quantity=str(_need(c, "quantity", f"constraint {c.get('name')}", path)),
            bound=float(_need(c, "bound", f"constraint {c.get('name')}", path)),
            unit=str(c.get("unit", "")),
        )
        for c in g("constraints")
    )

    kpis = []
    for k in g("kpis"):
        name = str(_need(k, "name", "a KPI", path))
        direction = str(_need(k, "direction", f"KPI {name}", path))
        agg = freeze(_need(k, "aggregate", f"KPI {name}", path))
        anchors = _need(k, "anchors", f"KPI {name}", path)
        if direction not in DIRECTIONS:
            raise SpecError(f"{path}: KPI {name}: direction must be one of {DIRECTIONS}")
        if agg.get("kind") not in AGGREGATE_KINDS:
            raise SpecError(f"{path}: KPI {name}: aggregate.kind must be one of {AGGREGATE_KINDS}")
        if agg["kind"] == "quantile" and not (
                len(agg.get("bins", ())) >= 2 and len(agg.get("edges", ())) == len(agg["bins"]) - 1
                and list(agg["edges"]) == sorted(agg["edges"]) and 0 < float(agg.get("q", -1)) < 1):
            raise SpecError(f"{path}: KPI {name}: a quantile aggregate needs 'bins' (counter names, "
                            "one per histogram bin), increasing 'edges' (the upper edges of every "
                            "bin but the last, open one) and 'q' in (0, 1)")
        zero, one = _anchor_pair(anchors, direction, f"KPI {name}", path)
        per_scale = {}
        for scale_name, pair in (anchors.get("scales") or {}).items():
            if scale_name not in {s.name for s in scales}:
                raise SpecError(f"{path}: KPI {name}: anchors.scales names unknown scale {scale_name!r}")
            per_scale[str(scale_name)] = _anchor_pair(pair, direction, f"KPI {name} at {scale_name}", path)
        kpis.append(KpiSpec(name=name, unit=str(k.get("unit", "")), direction=direction,
                            aggregate=agg, anchors=(zero, one),
                            anchor_source=str(anchors.get("source", "")),
                            description=str(k.get("description", "")),
                            scale_anchors=FrozenDict(per_scale)))

    weights = freeze({str(k): float(v) for k, v in g("weights").items()})
    names = {k.name for k in kpis}
    for w in weights:
        if w not in names:
            raise SpecError(f"{path}: weights name KPI '{w}', which is not declared under 'kpis'")
    if abs(sum(weights.values()) - 1.0) > 1e-9 or min(weights.values()) < 0:
        raise SpecError(f"{path}: weights must be non-negative and sum to 1")

    hs = raw.get("hyperscore", {})
    seeds_raw = g("seeds")
    eval_seeds = tuple(int(s) for s in seeds_raw["eval"])
    train = seeds_raw["train"]
    seeds = SeedSpec(eval=eval_seeds, train_start=int(train["start"]), train_stop=int(train["stop"]))
    if len(eval_seeds) < 10 or len(set(eval_seeds)) != len(eval_seeds):
        raise SpecError(f"{path}: seeds.eval needs at least 10 distinct seeds")
    if any(seeds.train_start <= s < seeds.train_stop for s in eval_seeds):
        raise SpecError(f"{path}: seeds.eval overlaps the training range seeds.train")

    rec = g("recovery")
    recovery = RecoverySpec(kpi=str(rec["kpi"]), window=int(rec["window"]), band=float(rec["band"]))
    if recovery.kpi not in names:
        raise SpecError(f"{path}: recovery.kpi '{recovery.kpi}' is not a declared KPI")
    if kpis[[k.name for k in kpis].index(recovery.kpi)].aggregate["kind"] not in ("sum", "mean", "ratio"):
        raise SpecError(f"{path}: recovery.kpi must aggregate by sum, mean or ratio")

    caps = g("capabilities")
    capabilities = Capabilities(action_type=str(caps["action_type"]),
                                global_state=bool(caps["global_state"]))
    if capabilities.action_type not in ACTION_TYPES:
        raise SpecError(f"{path}: capabilities.action_type must be one of {ACTION_TYPES}")

    return TaskSpec(
        id=str(g("id")),
        description=str(g("description")).strip(),
        entry_point=str(g("entry_point")),
        horizon=int(g("horizon")),
        parameters=freeze(g("parameters")),
        scales=scales,
        scenarios=scenarios,
        constraints=constraints,
        kpis=tuple(kpis),
        weights=weights,
        hyperscore=HyperScoreParams(float(hs.get("beta", 6.0)),
                                    float(hs.get("gamma", -math.log(2.0))),
                                    float(hs.get("kappa", 2.5))),
        seeds=seeds,
        recovery=recovery,
        capabilities=capabilities,
        path=path,
        sha256=content_sha256(raw),
    )


def load_spec_file(path: Path) -> TaskSpec:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return parse_spec(raw, Path(path))


@dataclass(frozen=True, slots=True)
class EnvConfig:
    """What a simulator receives from :func:`bench.make`: the spec, the chosen scale and
    scenario, and the merged parameters (spec defaults < scale < caller's overrides)."""

    spec: TaskSpec
    scale: ScaleSpec
    scenario: ScenarioSpec
    params: Mapping[str, Any]
    horizon: int
