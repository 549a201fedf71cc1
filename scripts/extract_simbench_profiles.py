"""Extract the SimBench load and PV profiles the power-grid v2 tasks use into
``tasks/power_grid/data/simbench_profiles.npz`` (so the tasks need neither the ``simbench``
package nor a network connection at run time).

Source: the ``simbench`` package (PyPI, 1.6.3), file
``simbench/networks/1-complete_data-mixed-all-2-sw/{LoadProfile,RESProfile}.csv``: the SimBench
dataset's 2016 time series at 15-minute resolution (35,136 intervals). The SimBench database is
licensed under the Open Database License (ODbL 1.0), its contents under the Database Contents
License (DbCL 1.0); see tasks/power_grid/data/SIMBENCH_LICENSE.md.

What is kept: the active-power load profiles of the household (H0-*) and commercial (G*) standard
profile types, and the eight PV profiles (PV1..PV8), each divided by its annual maximum (load
columns already peak at 1.0; PV columns peak at ~0.6 of installed power and are rescaled so that
an inverter's ``p_max`` is its best interval of the year). Stored as float32.

    /work/main/.venv/bin/python scripts/extract_simbench_profiles.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOAD_TYPES = ("H0-A", "H0-B", "H0-C", "H0-G", "H0-H", "H0-L",
              "G0-A", "G1-A", "G1-B", "G1-C", "G2-A", "G3-A", "G4-A", "G5-A", "G6-A")
PV_TYPES = tuple(f"PV{i}" for i in range(1, 9))
OUT = Path(__file__).resolve().parents[1] / "tasks" / "power_grid" / "data" / "simbench_profiles.npz"


def main() -> None:
    import pandas as pd
    import simbench

    src = Path(simbench.__file__).parent / "networks" / "1-complete_data-mixed-all-2-sw"
    load = pd.read_csv(src / "LoadProfile.csv", sep=";")
    res = pd.read_csv(src / "RESProfile.csv", sep=";")
    assert len(load) == len(res) == 366 * 96, "expected the 2016 series at 15 minutes"
    assert (load.time == res.time).all()
    lp = load[[f"{t}_pload" for t in LOAD_TYPES]].to_numpy(np.float64)
    pv = res[list(PV_TYPES)].to_numpy(np.float64)
    lp /= lp.max(axis=0)
    pv /= pv.max(axis=0)
    np.savez_compressed(OUT, load_types=np.array(LOAD_TYPES), pv_types=np.array(PV_TYPES),
                        load=lp.astype(np.float32), pv=pv.astype(np.float32),
                        first=np.array(str(load.time.iloc[0])), version=np.array(simbench.__version__))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB): load {lp.shape}, pv {pv.shape}")


if __name__ == "__main__":
    main()
