"""``bench.evaluate``: the protocol's episodes for a policy object, on TRAINING seeds by default,
for tuning a policy from Python without a hand-written loop and without touching the
evaluation seeds the leaderboard ranks on.

The cells (scales and scenarios) are the protocol's (``quick``: the same cells as ``full``);
only the seeds differ: ``seeds="train"`` takes ``n`` consecutive seeds of the spec's training
range, ``seeds="eval"`` the protocol's evaluation seeds (an explicit opt-in, with a warning).
Episodes run through the harness's own :func:`bench.episode.run_episode`, so KPIs, V, safety and
the action checks are exactly those of ``rao-bench evaluate``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from bench.episode import run_episode
from bench.policy import Policy, PolicyError, PolicySource, load_policy
from bench.registry import get_spec, make
from bench.summary import protocol_cells, protocol_seeds, summarise


class EvalSeedsWarning(UserWarning):
    """Evaluation seeds used from the Python API: fine for a final check, wrong for tuning."""


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` returns: one record per episode (the result schema's episode
    records), their summary (as in a result file) and the seeds used."""

    task: str
    seeds: tuple[int, ...]
    records: list[dict[str, Any]]
    summary: dict[str, Any]

    @property
    def V(self) -> float:
        """Nominal mean V: the number to tune on."""
        return float(self.summary["nominal"]["V"]["mean"])


def training_seeds(task: str, n: int, offset: int = 0) -> tuple[int, ...]:
    """``n`` consecutive seeds from the spec's training range, starting ``offset`` into it."""
    s = get_spec(task).seeds
    start = s.train_start + offset
    if offset < 0 or n < 1 or start + n > s.train_stop:
        raise ValueError(f"{task}: n={n}, offset={offset} leave the training range "
                         f"[{s.train_start}, {s.train_stop}); pick 1 <= n and offset + n <= "
                         f"{s.train_stop - s.train_start}")
    return tuple(range(start, start + n))


def _factory(policy: Any) -> Callable[[Any], Policy]:
    if isinstance(policy, str):
        policy = load_policy(policy)
    if isinstance(policy, PolicySource):
        return policy.build
    if isinstance(policy, Policy) and not isinstance(policy, type):
        return lambda env: policy
    if callable(policy):  # a class or factory(env)
        return lambda env: _checked(policy(env), policy)
    raise TypeError(f"bench.evaluate: policy must be a policy object (reset(seed), act(obs)), a "
                    f"factory(env), a PolicySource or a 'module:attr' / baseline name, got "
                    f"{type(policy).__name__}")


def _checked(built: Any, factory: Any) -> Policy:
    if not isinstance(built, Policy):
        raise PolicyError(f"bench.evaluate: {getattr(factory, '__qualname__', factory)!r}(env) returned "
                          f"a {type(built).__name__}, not an object with reset(seed) and act(observations)")
    return built


def evaluate(policy: Any, task: str, seeds: str | Sequence[int] = "train", protocol: str = "quick",
             n: int | None = None, *, offset: int = 0) -> Evaluation:
    """Run ``policy`` on every cell of ``protocol`` for ``task`` and return records and summary.

    ``policy``: a policy object (reused across episodes; ``reset(seed)`` is called before
    each), a ``factory(env)`` (called afresh per episode, as the harness does), or a name.
    ``seeds``: ``"train"`` (default: ``n`` seeds of the training range, from ``offset``),
    ``"eval"`` (the protocol's evaluation seeds, first ``n`` of them; warns), or explicit
    training-range seeds. ``n`` defaults to the protocol's seed count (quick 2, full all)."""
    spec = get_spec(task)
    default = protocol_seeds(spec, protocol)
    n = len(default) if n is None else int(n)
    if isinstance(seeds, str):
        if seeds == "train":
            chosen = training_seeds(spec.id, n, offset)
        elif seeds == "eval":
            warnings.warn(f"bench.evaluate on {spec.id}'s EVALUATION seeds: the leaderboard ranks "
                          "on these, so tuning on them overfits the benchmark; tune with "
                          "seeds='train' and use 'eval' once, at the end", EvalSeedsWarning, stacklevel=2)
            chosen = spec.seeds.eval[:n]
        else:
            raise ValueError(f"seeds must be 'train', 'eval' or a list of training seeds, got {seeds!r}")
    else:
        chosen = tuple(int(s) for s in seeds)
        outside = [s for s in chosen if not spec.seeds.train_start <= s < spec.seeds.train_stop]
        if outside:
            raise ValueError(f"seeds {outside[:5]} are outside {spec.id}'s training range "
                             f"[{spec.seeds.train_start}, {spec.seeds.train_stop}); pass seeds='eval' "
                             "to use the evaluation seeds deliberately")
    factory = _factory(policy)
    records = []
    for cell in protocol_cells(spec, protocol):
        env = make(spec.id, scale=cell.scale, scenario=cell.scenario)
        for seed in chosen:
            env.reset(seed=seed)
            records.append(run_episode(env, factory(env), seed, spec))
    return Evaluation(spec.id, tuple(chosen), records, summarise(spec, records))


__all__ = ["evaluate", "Evaluation", "EvalSeedsWarning", "training_seeds"]
