"""Regenerate docs/figures/hyperscore_curve.png from bench.metrics.hyperscore.

Usage (from the repository root):

    .venv/bin/python scripts/plot_hyperscore.py [--out PATH]

The output is byte-for-byte deterministic for a given matplotlib version
(Agg backend, fixed dpi, no "Software" metadata).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.metrics import hyperscore  # noqa: E402

DEFAULT_OUT = ROOT / "docs" / "figures" / "hyperscore_curve.png"
DPI = 120


def make_figure(out: Path) -> None:
    """Plot HyperScore(V) on [0, 1] (linear, and log of the excess over 100)."""
    v = np.linspace(0.0, 1.0, 1001)
    h = hyperscore(v)
    h_max = hyperscore(1.0)
    h_half = hyperscore(0.5)
    v_mid = 2.0 ** (1.0 / 6.0)  # where sigma(6 ln V - ln 2) = 0.5

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))

    ax1.plot(v, h, color="tab:blue", lw=2, label="HyperScore(V), paper defaults")
    ax1.axhline(200.0, color="grey", ls=":", lw=1)
    ax1.axhline(100.0, color="grey", ls=":", lw=1)
    ax1.axhspan(h_max, 200.0, color="tab:red", alpha=0.08, label="nominal 100-200 range never reached")
    ax1.annotate(
        f"true max at V=1: {h_max:.3f}",
        xy=(1.0, h_max),
        xytext=(0.35, 135.0),
        arrowprops={"arrowstyle": "->", "color": "black"},
    )
    ax1.annotate(f"V=0.5: {h_half:.6f}", xy=(0.5, h_half), xytext=(0.25, 115.0),
                 arrowprops={"arrowstyle": "->", "color": "black"})
    ax1.set_xlim(0.0, 1.0)
    ax1.set_ylim(95.0, 205.0)
    ax1.set_xlabel("value score V")
    ax1.set_ylabel("HyperScore")
    ax1.set_title("HyperScore on V in [0, 1] (beta=6, gamma=-ln 2, kappa=2.5)", fontsize=9)
    ax1.legend(loc="upper left", fontsize=8)

    vp = v[v > 0]
    ax2.semilogy(vp, hyperscore(vp) - 100.0, color="tab:blue", lw=2)
    h_sig_half = 100.0 * 0.5**2.5  # excess when the logistic equals 0.5
    ax2.axhline(h_sig_half, color="tab:orange", ls="--", lw=1,
                label=f"logistic = 0.5 (HyperScore {100 + h_sig_half:.2f}) only at V = 2^(1/6) = {v_mid:.4f}")
    ax2.axhline(100.0, color="grey", ls=":", lw=1, label="HyperScore 200 (unreachable)")
    ax2.set_xlim(0.0, 1.0)
    ax2.set_ylim(1e-12, 1e3)
    ax2.set_xlabel("value score V")
    ax2.set_ylabel("HyperScore - 100 (log scale)")
    ax2.set_title("Excess over 100: the curve is flat until V is near 1", fontsize=9)
    ax2.legend(loc="lower right", fontsize=8)

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    assert math.isclose(h_max, 100.0 * (1.0 + 3.0**-2.5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output PNG path")
    args = parser.parse_args(argv)
    make_figure(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
