"""The evaluation progress bar, with an ETA from estimated job costs instead of episodes per second.

Jobs run longest first (``bench.protocol.longest_first``), so the first episodes to finish are
the slowest and an episodes-per-second rate extrapolates a wildly long time (a sweep once showed
27 hours at its first update for a 15-minute run). The ETA here is

    ETA = f * max(sum of the remaining jobs' estimated costs / workers, the largest of them)

where ``f`` converts estimated cost into seconds on this machine now: the finished episodes'
own measured time (simulation + decisions, from their records) over their estimated cost. With
estimates in seconds (``bench.protocol.cost_from_previous``) ``f`` starts at 1, so an ETA is
shown before the first episode ends; with agent-step estimates it appears at the first update.
Only the display depends on this, never a result.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

Job = tuple[str, str, str, str, int]


def measured_seconds(record: Mapping[str, Any]) -> float | None:
    """An episode's measured compute time (simulation + decisions), or None if not recorded."""
    try:
        return float(record["sim_time_s"]) + float(record["decision_time_per_agent_step_s"]) * int(record["agent_steps"])
    except (KeyError, TypeError, ValueError):
        return None


class Eta:
    """Remaining time of a job list from cost estimates, calibrated by the episodes that finish."""

    def __init__(self, todo: Sequence[Job], cost: Callable[[Job], float], workers: int,
                 cost_in_seconds: bool) -> None:
        self.cost = cost
        self.workers = max(1, int(workers))
        self.left = {j: float(cost(j)) for j in todo}
        self.est_done = 0.0
        self.seconds_done = 0.0
        self.calibrated = cost_in_seconds

    def done(self, job: Job, record: Mapping[str, Any] | None = None) -> None:
        est = self.left.pop(job, None)
        sec = measured_seconds(record) if record is not None else None
        if est is not None and est > 0 and sec is not None:
            self.est_done += est
            self.seconds_done += sec
            self.calibrated = True

    def drop(self, dropped: Callable[[Job], bool]) -> None:
        """Forget jobs that will not run (their evaluation failed)."""
        self.left = {j: c for j, c in self.left.items() if not dropped(j)}

    @property
    def factor(self) -> float:
        """Seconds per unit of estimated cost (1.0 until an episode has been measured)."""
        return self.seconds_done / self.est_done if self.est_done > 0 else 1.0

    def seconds(self) -> float | None:
        """Estimated seconds until every job is done, or None when there is no basis yet."""
        if not self.calibrated:
            return None
        if not self.left:
            return 0.0
        work = sum(self.left.values())
        return self.factor * max(work / min(self.workers, len(self.left)), max(self.left.values()))


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA after the first episode"
    s = int(round(seconds))
    return f"ETA {s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"ETA {s // 60}:{s % 60:02d}"


class Progress:
    """A tqdm bar counting episodes whose right-hand side shows :class:`Eta`'s estimate."""

    def __init__(self, todo: Sequence[Job], total: int, desc: str, *, cost: Callable[[Job], float],
                 workers: int, cost_in_seconds: bool, enabled: bool = True, file: Any = None) -> None:
        self.eta = Eta(todo, cost, workers, cost_in_seconds)
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=total - len(todo), unit="ep", desc=desc, leave=False,
                            dynamic_ncols=True, file=file,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} ep "
                                       "[{elapsed}{postfix}]")  # tqdm puts ", " before a postfix
            self.bar.set_postfix_str(format_eta(self.eta.seconds()), refresh=True)

    def update(self, job: Job, record: Mapping[str, Any] | None) -> None:
        self.eta.done(job, record)
        if self.bar is not None:
            self.bar.set_postfix_str(format_eta(self.eta.seconds()), refresh=False)
            self.bar.update(1)

    def drop(self, dropped: Callable[[Job], bool]) -> None:
        self.eta.drop(dropped)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
