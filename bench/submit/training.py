"""Validator stage ``training``: a learner's ``algorithm.training`` block must be consistent and
must show training only on the task's training seeds.

Kept apart from the other stages (:mod:`bench.submit.stages.training` calls it between the coverage and numbers stages)
because it checks a different thing: not the evaluation, but what was spent and broken while
learning. A learning paradigm without the block is valid, with a warning: the leaderboard then
shows its training budget and training-time violations as unknown.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

LEARNING_PARADIGMS = ("DTDE", "CTDE", "CTCE")
_TOTALS = ("env_steps", "agent_steps", "episodes")

Add = Callable[..., None]


def check_training(doc: Mapping[str, Any], spec: Any, add: Add, warning: str) -> None:
    """Report every problem of ``doc['algorithm']['training']`` through ``add(path, message)``;
    ``spec`` is the released TaskSpec (None if unknown); ``warning`` is the warning severity."""
    alg = doc.get("algorithm") if isinstance(doc.get("algorithm"), dict) else {}
    block = alg.get("training")
    if block is None:
        if alg.get("paradigm") in LEARNING_PARADIGMS:
            add(("algorithm", "training"), f"a {alg.get('paradigm')} learner without a training "
                "block: its training budget and training-time violations show as unknown; "
                "evaluate through bench.protocol.evaluate with a policy class that has "
                "training_record() (see docs/learners.md)", warning)
        return
    if not isinstance(block, dict):
        return  # the schema stage has said what is wrong
    path = ("algorithm", "training")
    seeds = block.get("seeds")
    if spec is not None and isinstance(seeds, list):
        lo, hi, ev = spec.seeds.train_start, spec.seeds.train_stop, set(spec.seeds.eval)
        leaked = sorted({s for s in seeds if isinstance(s, int) and s in ev})
        outside = sorted({s for s in seeds if isinstance(s, int) and not lo <= s < hi} - set(leaked))
        if leaked:
            add(path + ("seeds",), f"trained on evaluation seed(s) {leaked[:5]}; expected only seeds "
                f"in the training range [{lo}, {hi}) — retrain without them")
        if outside:
            add(path + ("seeds",), f"seed(s) {outside[:5]} lie outside the training range "
                f"[{lo}, {hi}); expected training seeds from the spec's range")
        if isinstance(block.get("episodes"), int) and len(seeds) > block["episodes"]:
            add(path + ("seeds",), f"{len(seeds)} distinct seeds for {block['episodes']} episodes; "
                "expected at most one seed per episode")
    violations = block.get("violations")
    if spec is not None and isinstance(violations, dict):
        declared = [c.name for c in spec.constraints]
        missing = [c for c in declared if c not in violations]
        extra = [c for c in violations if c not in declared]
        if missing:
            add(path + ("violations",), f"missing constraint(s) {missing}; expected a count for "
                f"every constraint of the spec: {declared}")
        if extra:
            add(path + ("violations",), f"unknown constraint(s) {extra}; the spec declares {declared}")
    agent_steps = block.get("agent_steps")
    if isinstance(violations, dict) and isinstance(agent_steps, int):
        for c, v in violations.items():
            n = v.get("agent_steps") if isinstance(v, dict) else None
            if isinstance(n, int) and n > agent_steps:
                add(path + ("violations", c, "agent_steps"), f"found {n} violating agent-steps, more "
                    f"than the {agent_steps} agent-steps trained")
    runs = block.get("runs")
    if isinstance(runs, list) and runs and all(isinstance(r, dict) for r in runs):
        for key in _TOTALS:
            parts = [r.get(key) for r in runs]
            if all(isinstance(x, int) for x in parts) and isinstance(block.get(key), int) \
                    and sum(parts) != block[key]:
                add(path + (key,), f"found {block[key]}; the runs add up to {sum(parts)}")
        if spec is not None:
            scales = {s.name for s in spec.scales}
            for i, r in enumerate(runs):
                if isinstance(r.get("scale"), str) and r["scale"] not in scales:
                    add(path + ("runs", i, "scale"), f"found {r['scale']!r}; expected one of "
                        f"the spec's scales {sorted(scales)}")
