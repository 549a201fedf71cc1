"""Stage ``coverage``: the protocol block and the episodes cover exactly the protocol's cells and
seeds, each once, with the spec's KPI and constraint names."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.spec import TaskSpec
from bench.submit.common import PathT, Run, dget, hint, is_int, show
from bench.summary import PROTOCOLS, protocol_cells, protocol_seeds


def stage_coverage(run: Run) -> None:
    spec = run.spec
    if spec is None:
        run.blocked(("task", "id"), f"{run.spec_missing_reason or 'no released spec'}, so the "
                    "required seeds and cells are unknown")
        return
    name = dget(run.doc, "protocol", "name")
    if name not in PROTOCOLS:
        run.blocked(("protocol", "name"), "missing or not one of " + ", ".join(PROTOCOLS)
                    + ", so the required seeds and cells are unknown")
        return
    seeds = protocol_seeds(spec, name)
    cells = protocol_cells(spec, name)
    _check_protocol_block(run, spec, name, seeds, cells)
    if run.episodes_broken or not isinstance(run.doc.get("episodes"), list):
        run.blocked(("episodes",), "not a list of episodes (see the schema problems), so the "
                    "coverage of the protocol's cells is unknown")
        return

    required = {(c.scale, c.scenario): c for c in cells}
    scales = [s.name for s in spec.scales]
    scenarios = [s.name for s in spec.scenarios]
    kpis = [k.name for k in spec.kpis]
    constraints = [c.name for c in spec.constraints]
    found: dict[tuple[int, str, str], dict[int, int]] = {}  # (run, scale, scenario) -> seed -> index
    for i, ep in run.episodes():
        seed, scale, scen = ep.get("seed"), ep.get("scale"), ep.get("scenario")
        k = ep.get("run", 0)
        k = k if is_int(k) else 0  # a non-integer run is the schema stage's error
        if isinstance(scale, str) and scale not in scales:
            run.add(("episodes", i, "scale"), f"found {show(scale)}; expected a scale of {spec.id}: "
                                              f"{', '.join(scales)}." + hint(scale, scales))
        if isinstance(scen, str) and scen not in scenarios:
            run.add(("episodes", i, "scenario"), f"found {show(scen)}; expected a scenario of "
                                                 f"{spec.id}: {', '.join(scenarios)}." + hint(scen, scenarios))
        if isinstance(scale, str) and scale in scales and is_int(ep.get("n_agents")):
            agents = spec.scale(scale).agents
            if ep["n_agents"] != agents:
                run.add(("episodes", i, "n_agents"), f"found {ep['n_agents']}; scale {scale!r} of "
                                                     f"{spec.id} has {agents} agents")
        _check_names(run, ep.get("kpis"), ("episodes", i, "kpis"), kpis, "KPI")
        _check_names(run, ep.get("safety"), ("episodes", i, "safety"), constraints, "constraint")
        if not (is_int(seed) and scale in scales and scen in scenarios):
            continue
        cell = required.get((scale, scen))
        if cell is None:
            run.add(("episodes", i), f"episode for scale {scale!r}, scenario {scen!r} is not a cell of "
                                     f"the {name} protocol; expected only its cells: "
                                     + ", ".join(f"{c.scale}/{c.scenario}" for c in cells))
            continue
        got = found.setdefault((k, scale, scen), {})
        if seed not in cell.seeds:
            run.add(("episodes", i, "seed"), f"found seed {seed}, which is not an evaluation seed of "
                                             f"the {name} protocol; expected one of {list(cell.seeds)}")
        elif seed in got:
            run.add(("episodes", i), f"duplicate episode: run {k}, scale {scale!r}, scenario {scen!r}, "
                                     f"seed {seed} already appears at $.episodes[{got[seed]}]; expected "
                                     "each (run, scale, scenario, seed) once")
        else:
            got[seed] = i
    runs = sorted({k for k, _, _ in found}) or [0]
    if runs != list(range(len(runs))):
        run.add("$.episodes", f"found runs {runs}; expected runs numbered 0..{len(runs) - 1} "
                              "(rao-bench merge-runs numbers them)")
    for k in runs:
        label = f"run {k}, " if len(runs) > 1 else ""
        for c in cells:
            got = found.get((k, c.scale, c.scenario), {})
            if not got:
                run.add("$.episodes", f"missing cell ({c.part}): no episodes for {label}scale "
                                      f"{c.scale!r}, scenario {c.scenario!r}; expected seeds {list(c.seeds)}")
                continue
            for s in c.seeds:
                if s not in got:
                    run.add("$.episodes", f"missing episode: {label}scale {c.scale!r}, scenario "
                                          f"{c.scenario!r}, seed {s} ({c.part} cell)")


def _check_protocol_block(run: Run, spec: TaskSpec, name: str, seeds: tuple[int, ...],
                          cells: list[Any]) -> None:
    given = dget(run.doc, "protocol", "seeds")
    if isinstance(given, list) and all(is_int(s) for s in given):
        counts = Counter(given)
        where = f"the {name} protocol of {spec.id} uses seeds {list(seeds)}"
        for s in seeds:
            if s not in counts:
                run.add(("protocol", "seeds"), f"seed {s} is missing; {where}")
        listed: set[int] = set()
        for j, s in enumerate(given):
            if s not in seeds:
                run.add(("protocol", "seeds", j), f"found extra seed {s}; {where}")
            elif s in listed:
                run.add(("protocol", "seeds", j), f"seed {s} is listed more than once; {where}")
            listed.add(s)
        if set(given) == set(seeds) and len(given) == len(seeds) and tuple(given) != seeds:
            run.add(("protocol", "seeds"), f"found the seeds in a different order; {where}")
    want_scales = [s.name for s in spec.scales if any(c.scale == s.name for c in cells)]
    want_scens = [s.name for s in spec.scenarios if any(c.scenario == s.name for c in cells)]
    for key, want in (("scales", want_scales), ("scenarios", want_scens)):
        got = dget(run.doc, "protocol", key)
        if isinstance(got, list) and got != want:
            run.add(("protocol", key), f"found {show(got, 120)}; the {name} protocol of {spec.id} "
                                       f"covers {show(want, 120)}")


def _check_names(run: Run, block: Any, path: PathT, declared: list[str], what: str) -> None:
    if not isinstance(block, dict):
        return
    for name in declared:
        if name not in block:
            run.add(path, f"{what} {name!r} is missing; expected every {what} of the spec: "
                          + ", ".join(declared))
    for name in block:
        if name not in declared:
            run.add(path + (name,), f"unknown {what} {show(name)}; expected only "
                                    + ", ".join(declared) + "." + hint(str(name), declared))

