"""Learning curves of the reference learners' runs: one PNG per task in docs/learning_curves/.

    .venv/bin/python scripts/plot_learning_curves.py          # after scripts/train_learners.py

Reads every run's curve (``baselines/learners/checkpoints/run<k>/<algo>/<task>/<scale>.curve.csv``,
written by baselines/learners/curves.py) and draws, per task and trained scale, the greedy
validation V on the held-out training seeds against training env steps: one thin line per run,
the median over runs thick, one colour per learner. The dot on each run marks the network it
saved (its best validation V); the run's line ends where it stopped (budget or plateau).
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from baselines.learners.marl_common import CHECKPOINT_DIR  # noqa: E402

OUT = REPO / "docs" / "learning_curves"


def read_runs() -> dict[tuple[str, str], dict[str, list[dict]]]:
    """{(task slug, scale): {algo: [run, ...]}}, a run = {"seed", "steps", "V", "selected"}."""
    found: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(CHECKPOINT_DIR.glob("run*/*/*/*.curve.csv")):
        algo, slug, scale = path.parent.parent.name, path.parent.name, path.name.split(".")[0]
        record = json.loads(path.with_name(f"{scale}.json").read_text())
        val = record.get("validation", {})
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("val_V")]
        found[(slug, scale)][algo].append({
            "seed": record.get("seed"), "steps": [int(r["env_steps"]) for r in rows],
            "V": [float(r["val_V"]) for r in rows], "selected": val.get("selected_env_steps"),
            "stopped_by": record.get("stopped_by")})
    return found


def plot(slug: str, scale: str, algos: dict[str, list[dict]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    for i, (algo, runs) in enumerate(sorted(algos.items())):
        colour = f"C{i}"
        for r in runs:
            ax.plot(r["steps"], r["V"], color=colour, lw=0.7, alpha=0.45)
            if r["selected"] in r["steps"]:
                j = r["steps"].index(r["selected"])
                ax.plot([r["steps"][j]], [r["V"][j]], "o", color=colour, ms=3)
        grid = sorted({s for r in runs for s in r["steps"]})
        med = [float(np.median([r["V"][r["steps"].index(s)] for r in runs if s in r["steps"]])) for s in grid]
        ax.plot(grid, med, color=colour, lw=2.0, label=f"{algo} (median of {len(runs)} runs)")
    ax.set_xlabel("training env steps")
    ax.set_ylabel("validation V (held-out training seeds)")
    ax.set_title(f"{slug.replace('__', '/')} · scale {scale}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{slug}__{scale}.png"
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)
    return out


def main() -> int:
    runs = read_runs()
    if not runs:
        print(f"no learning curves under {CHECKPOINT_DIR}/run*/ (train with scripts/train_learners.py)",
              file=sys.stderr)
        return 1
    for (slug, scale), algos in sorted(runs.items()):
        print(plot(slug, scale, algos).relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
