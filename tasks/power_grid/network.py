"""Radial distribution networks: the IEEE 33-bus feeder (Baran & Wu 1989) and its scale ladder.

Data. ``data/ieee33_branches.csv`` and ``data/ieee33_loads.csv`` hold the feeder of M. E. Baran
and F. F. Wu, "Network reconfiguration in distribution systems for loss reduction and load
balancing", IEEE Trans. Power Delivery 4(2):1401-1407, 1989: 33 buses (1-based in the files, bus 1
is the substation), 32 sectionalising lines and 5 normally-open tie lines, series impedances in
ohm, spot loads (kW, kvar) at 12.66 kV. Total load 3715 kW + j2300 kvar. With the substation held
at 1.0 p.u. the published base case has 202.7 kW of line loss and its lowest voltage, 0.9131 p.u.,
at bus 18 (``tests/power_grid/test_powerflow.py`` reproduces both and agrees with pandapower).

What is ours, not Baran & Wu's (they publish none of it):

* ``data/ieee33_pv.csv`` — the PV plan: six inverters, as in MAPDN's 33-bus case, at the far
  ends of the trunk and of each lateral and mid-trunk (buses 13, 18, 22, 25, 29, 33), 1.5 MW
  each. 9 MW of PV on a 3.7 MW feeder is the high penetration at which both problems of active
  voltage control appear: with no control about a fifth of the intervals of a random day have
  an undervoltage (evening peak) and about an eighth an overvoltage (sunny middays).
* ``rating_a`` — each line's thermal rating, by a rule (``derive_line_ratings``, checked by a
  test): the smallest of the standard ampacities ``STANDARD_AMPACITIES_A`` that is at least
  ``RATING_MARGIN`` (1.25) times the larger of the line's current in the published peak-load case
  and in full PV export (every inverter at its rating, no load) — lines sized for both directions
  of flow, as a utility connecting this much PV would; a normally-open tie line gets the smaller
  rating of the two lines at its ends.
* ``IEEE33_ZONES`` — four control zones for local observations (the main trunk 2-18 and the three
  laterals 19-22, 23-25, 26-33), as MAPDN divides the feeder into regions.

Per-unit system: ``BASE_MVA`` = 1 MVA three-phase, the feeder's line-to-line ``base_kv`` (12.66
kV), so ``Z_base = base_kv² / BASE_MVA`` ohm and ``I_base = BASE_MVA / (√3 base_kv)`` kA. Powers
are in MW / Mvar throughout, so p.u. power equals MW.

Scale ladder (``multi_feeder``): ``n`` copies of a feeder hang off one substation bus. The
substation is an ideal source (it holds ``slack_vm_pu``: a stiff transformer with an on-load tap
changer), so the copies are electrically independent radial trees; the power flow solves them as
one batch. Bus 0 is the substation; copy ``f`` holds buses ``1 + f·(n_bus−1) …``.

Topology (``Network.topology``): buses are connected by the in-service lines, which must form a
spanning tree (a radial network): ``reconfigure`` opens and closes switches and refuses a meshed or
islanded result. Each subtree hanging off the substation is a *feeder*; ``Topology`` stores, per
feeder, the bus-injection-to-branch-current matrix ``K`` (``K[j, i] = 1`` when bus ``j`` lies on
the path from the substation to bus ``i``, so the line feeding ``j`` carries ``i``'s current) and
the matrix ``D = Kᵀ diag(z) K`` (Teng's DLF matrix; ``D_ij`` is the impedance of the path that buses
``i`` and ``j`` share), the two matrices of the backward/forward sweep (``powerflow.py``).
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
BASE_MVA = 1.0
IEEE33_BASE_KV = 12.66
#: Standard overhead-conductor ampacities (A) from which line ratings are picked.
STANDARD_AMPACITIES_A = (50, 70, 100, 150, 200, 250, 300, 400, 500, 600, 800)
#: A line's rating is the smallest standard ampacity >= RATING_MARGIN x its design current.
RATING_MARGIN = 1.25
#: Control zones of the 33-bus feeder (1-based bus numbers): trunk and three laterals.
IEEE33_ZONES: tuple[tuple[int, ...], ...] = (
    tuple(range(2, 19)), tuple(range(19, 23)), tuple(range(23, 26)), tuple(range(26, 34)))


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Network:
    """A balanced three-phase distribution network (positive-sequence model).

    Buses are 0-based indices with printable ``bus_names``; ``slack_bus`` is the substation,
    held at ``slack_vm_pu`` (angle 0). Lines are series impedances ``r_ohm + j x_ohm`` (no shunt
    admittance: short overhead lines, as in Baran & Wu) with a thermal rating ``rating_ka``;
    ``in_service`` says which switches are closed. Loads are constant-power spot loads
    ``load_p_mw + j load_q_mvar``; ``zone`` assigns each bus a control zone (-1 at the slack and
    at a transformer's star point, which is no bus: neither observed nor held to the band).
    PV inverters sit at ``pv_bus`` with active-power ratings ``pv_p_max_mw``.

    Shunt admittances (optional; ``None`` = none, as in Baran & Wu): ``line_b_us`` is each
    line's total charging susceptance (µS; the pi model puts half at each end),
    ``line_stub_bus`` the bus a switched-out line stays connected to (a normally-open loop line
    whose switch is at its other end is still charged from this bus; -1 = disconnected at both
    ends), and ``bus_shunt_pu`` a fixed shunt admittance per bus (complex p.u., load convention
    ``I = y V``: a transformer's magnetising branch). ``shunt_pu`` sums them for the lines in
    service.
    """

    name: str
    base_kv: float
    bus_names: tuple[str, ...]
    line_from: np.ndarray
    line_to: np.ndarray
    r_ohm: np.ndarray
    x_ohm: np.ndarray
    rating_ka: np.ndarray
    in_service: np.ndarray
    normally_open: np.ndarray
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    zone: np.ndarray
    pv_bus: np.ndarray
    pv_p_max_mw: np.ndarray
    slack_bus: int = 0
    slack_vm_pu: float = 1.0
    line_b_us: np.ndarray | None = None
    line_stub_bus: np.ndarray | None = None
    bus_shunt_pu: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, m = len(self.bus_names), len(self.line_from)
        for name, size in (("line_b_us", m), ("line_stub_bus", m), ("bus_shunt_pu", n)):
            a = getattr(self, name)
            if a is not None:
                if len(a) != size:
                    raise ValueError(f"Network {self.name!r}: {name} needs {size} entries, got {len(a)}")
                object.__setattr__(self, name, _ro(np.asarray(a)))
        if self.line_b_us is not None and np.any(self.line_b_us < 0):
            raise ValueError(f"Network {self.name!r}: line_b_us must be >= 0 µS (capacitive charging)")
        for name in ("line_to", "r_ohm", "x_ohm", "rating_ka", "in_service", "normally_open"):
            if len(getattr(self, name)) != m:
                raise ValueError(f"Network {self.name!r}: {name} has {len(getattr(self, name))} "
                                 f"entries but there are {m} lines; give one per line")
        for name in ("load_p_mw", "load_q_mvar", "zone"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Network {self.name!r}: {name} needs one entry per bus ({n})")
        if len(self.pv_bus) != len(self.pv_p_max_mw):
            raise ValueError(f"Network {self.name!r}: pv_bus and pv_p_max_mw need equal lengths")
        if len(self.pv_bus) and (min(self.pv_bus) < 0 or max(self.pv_bus) >= n
                                 or len(set(np.asarray(self.pv_bus).tolist())) != len(self.pv_bus)):
            raise ValueError(f"Network {self.name!r}: pv_bus must be distinct bus indices in [0, {n})")
        if np.any(np.asarray(self.pv_p_max_mw) <= 0):
            raise ValueError(f"Network {self.name!r}: pv_p_max_mw must be > 0 MW")
        if not (self.base_kv > 0 and math.isfinite(self.base_kv)):
            raise ValueError(f"base_kv must be a positive voltage in kV, got {self.base_kv!r}")
        if not 0.5 <= self.slack_vm_pu <= 1.5:
            raise ValueError(f"slack_vm_pu must lie in [0.5, 1.5] p.u., got {self.slack_vm_pu!r}")
        ends = np.concatenate([self.line_from, self.line_to])
        if len(ends) and (ends.min() < 0 or ends.max() >= n):
            raise ValueError(f"Network {self.name!r}: line ends must be bus indices in [0, {n})")
        if np.any(self.r_ohm < 0) or np.any(self.x_ohm < 0) or np.any(self.rating_ka <= 0):
            raise ValueError(f"Network {self.name!r}: r_ohm, x_ohm must be >= 0 and rating_ka > 0")
        for name in ("line_from", "line_to", "r_ohm", "x_ohm", "rating_ka", "in_service",
                     "normally_open", "load_p_mw", "load_q_mvar", "zone", "pv_bus", "pv_p_max_mw"):
            object.__setattr__(self, name, _ro(np.asarray(getattr(self, name))))

    # -- sizes and units ----------------------------------------------------------------------------
    @property
    def n_bus(self) -> int:
        return len(self.bus_names)

    @property
    def n_lines(self) -> int:
        return len(self.line_from)

    @property
    def z_base_ohm(self) -> float:
        """Impedance base (ohm) = base_kv² / BASE_MVA."""
        return self.base_kv ** 2 / BASE_MVA

    @property
    def i_base_ka(self) -> float:
        """Current base (kA) = BASE_MVA / (√3 · base_kv)."""
        return BASE_MVA / (math.sqrt(3.0) * self.base_kv)

    def bus(self, name: str | int) -> int:
        """0-based index of the bus called ``name`` (e.g. ``'18'`` or ``'f2/18'``)."""
        try:
            return self.bus_names.index(str(name))
        except ValueError:
            raise ValueError(f"Network {self.name!r} has no bus named {name!r}; names look like "
                             f"{self.bus_names[:3]}") from None

    def line(self, a: str | int, b: str | int) -> int:
        """Index of the line between the buses named ``a`` and ``b`` (either direction)."""
        ia, ib = self.bus(a), self.bus(b)
        hit = np.flatnonzero(((self.line_from == ia) & (self.line_to == ib))
                             | ((self.line_from == ib) & (self.line_to == ia)))
        if len(hit) != 1:
            raise ValueError(f"Network {self.name!r}: no single line between buses {a!r} and {b!r}")
        return int(hit[0])

    @functools.cached_property
    def shunt_pu(self) -> np.ndarray | None:
        """Total shunt admittance at each bus (complex p.u., ``I = y V``), or None if the network
        has none: half the charging of every line in service at each of its ends, the exact input
        admittance ``y/2 + 1 / (z + 2/y)`` of a switched-out line at its ``line_stub_bus``, and
        ``bus_shunt_pu``."""
        if self.line_b_us is None and self.bus_shunt_pu is None:
            return None
        y = np.zeros(self.n_bus, dtype=complex)
        if self.bus_shunt_pu is not None:
            y += self.bus_shunt_pu
        if self.line_b_us is not None:
            yl = 1j * self.line_b_us * 1e-6 * self.z_base_ohm
            on = self.in_service
            np.add.at(y, self.line_from[on], yl[on] / 2)
            np.add.at(y, self.line_to[on], yl[on] / 2)
            if self.line_stub_bus is not None:
                stub = ~on & (self.line_stub_bus >= 0) & (yl != 0)
                z = (self.r_ohm[stub] + 1j * self.x_ohm[stub]) / self.z_base_ohm
                half = yl[stub] / 2
                np.add.at(y, self.line_stub_bus[stub], half + 1.0 / (z + 1.0 / half))
        y.setflags(write=False)
        return y

    # -- switching ----------------------------------------------------------------------------------
    def reconfigure(self, open_lines: Iterable[int] = (), close_lines: Iterable[int] = ()) -> "Network":
        """A copy with the given lines switched out / in; it must still be radial (checked)."""
        status = self.in_service.copy()
        status[list(open_lines)] = False
        status[list(close_lines)] = True
        out = replace(self, in_service=status)
        out.topology  # noqa: B018 - raises ValueError if meshed or islanded
        return out

    @functools.cached_property
    def topology(self) -> "Topology":
        """The radial structure of the in-service lines (computed once per network object)."""
        return Topology.build(self)


@dataclass(frozen=True, eq=False)
class FeederGroup:
    """Feeders with identical electrical structure, solved with one shared matrix pair."""

    feeders: np.ndarray          # feeder indices in this group
    dlf: np.ndarray              # (m, m) complex p.u.: D = Kᵀ diag(z) K
    k: np.ndarray                # (m, m) 0/1: K[j, i] = 1 if j is on the path to i
    kt: np.ndarray               # (m, m) complex Kᵀ (J = I @ Kᵀ for row-vector currents)
    r_pu: np.ndarray             # (m,) p.u. resistance of the line feeding each block bus
    whole: bool                  # True if this group holds every feeder (fast path)


@dataclass(frozen=True, eq=False)
class Topology:
    """Radial structure: parents, feeders and the per-feeder sweep matrices.

    ``block_bus`` (F, m) lists each feeder's buses (breadth-first from the substation, padded
    with ``n_bus``, an index the solver maps to a zero-load dummy bus whose voltage is the slack
    voltage); ``block_line`` (F, m) gives the line feeding each block bus (-1 for padding).
    """

    parent: np.ndarray           # (n_bus,) parent bus, -1 at the slack
    parent_line: np.ndarray      # (n_bus,) line feeding each bus, -1 at the slack
    depth: np.ndarray            # (n_bus,) number of lines from the slack
    feeder_of_bus: np.ndarray    # (n_bus,) feeder index, -1 at the slack
    block_bus: np.ndarray        # (F, m)
    block_line: np.ndarray       # (F, m)
    groups: tuple[FeederGroup, ...]
    shunt_block: np.ndarray | None = None  # (F, m) complex shunt admittance of each block bus

    @property
    def n_feeders(self) -> int:
        return self.block_bus.shape[0]

    @property
    def block_size(self) -> int:
        return self.block_bus.shape[1]

    @staticmethod
    def build(net: Network) -> "Topology":
        n = net.n_bus
        live = np.flatnonzero(net.in_service)
        adj: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for li in live.tolist():
            a, b = int(net.line_from[li]), int(net.line_to[li])
            adj[a].append((b, li))
            adj[b].append((a, li))
        parent = np.full(n, -1, dtype=np.int64)
        parent_line = np.full(n, -1, dtype=np.int64)
        depth = np.full(n, -1, dtype=np.int64)
        feeder = np.full(n, -1, dtype=np.int64)
        s = net.slack_bus
        depth[s] = 0
        order = [s]
        head = 0
        while head < len(order):
            u = order[head]
            head += 1
            for v, li in adj[u]:
                if li == parent_line[u]:
                    continue
                if depth[v] >= 0:
                    raise ValueError(f"Network {net.name!r} is not radial: closing line {li} "
                                     f"({net.bus_names[net.line_from[li]]}-"
                                     f"{net.bus_names[net.line_to[li]]}) makes a loop; open a line "
                                     "of the loop (reconfigure(open_lines=...))")
                depth[v] = depth[u] + 1
                parent[v], parent_line[v] = u, li
                feeder[v] = feeder[u] if u != s else v      # temporarily: the feeder's head bus
                order.append(v)
        if len(order) != n:
            lost = [net.bus_names[i] for i in range(n) if depth[i] < 0]
            raise ValueError(f"Network {net.name!r} is not connected: buses {lost[:8]} are cut off "
                             "from the substation; close a tie line (reconfigure(close_lines=...))")
        heads = [v for v in order if parent[v] == s]
        head_index = {h: f for f, h in enumerate(heads)}
        feeder = np.array([head_index[h] if h >= 0 else -1 for h in feeder.tolist()], dtype=np.int64)
        members = [[v for v in order if feeder[v] == f] for f in range(len(heads))]
        m = max((len(b) for b in members), default=0)
        block_bus = np.full((len(heads), m), n, dtype=np.int64)
        block_line = np.full((len(heads), m), -1, dtype=np.int64)
        z_pu = (net.r_ohm + 1j * net.x_ohm) / net.z_base_ohm
        dlfs, ks, rs = [], [], []
        for f, buses in enumerate(members):
            block_bus[f, :len(buses)] = buses
            block_line[f, :len(buses)] = parent_line[buses]
            pos = {b: i for i, b in enumerate(buses)}
            k = np.zeros((m, m))
            for i, b in enumerate(buses):            # walk from bus i up to the substation
                u = b
                while u != s:
                    k[pos[u], i] = 1.0
                    u = int(parent[u])
            z = np.zeros(m, dtype=complex)
            z[:len(buses)] = z_pu[parent_line[buses]]
            dlfs.append(k.T @ (z[:, None] * k))
            ks.append(k)
            rs.append(z.real.copy())
        groups: list[FeederGroup] = []
        keys: dict[bytes, list[int]] = {}
        for f in range(len(heads)):
            keys.setdefault(dlfs[f].tobytes() + ks[f].tobytes(), []).append(f)
        for idx in keys.values():
            f0 = idx[0]
            groups.append(FeederGroup(feeders=_ro(np.array(idx)), dlf=_ro(dlfs[f0]), k=_ro(ks[f0]),
                                      kt=_ro(ks[f0].T.astype(complex)),
                                      r_pu=_ro(rs[f0]), whole=len(idx) == len(heads)))
        shunt = net.shunt_pu
        shunt_block = None
        if shunt is not None:
            shunt_block = _ro(np.append(shunt, 0.0)[block_bus])
        return Topology(parent=_ro(parent), parent_line=_ro(parent_line), depth=_ro(depth),
                        feeder_of_bus=_ro(feeder), block_bus=_ro(block_bus),
                        block_line=_ro(block_line), groups=tuple(groups), shunt_block=shunt_block)


# -- the IEEE 33-bus feeder ------------------------------------------------------------------------

def _read_csv(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@functools.lru_cache(maxsize=1)
def ieee33() -> Network:
    """The IEEE 33-bus radial feeder of Baran & Wu (1989), tie lines open, substation at 1.0 p.u.

    Bus ``k`` of the paper (1-based) is index ``k - 1`` and is named ``str(k)``; line ``l`` of
    the branch file is index ``l - 1`` (lines 33-37 are the normally-open ties 8-21, 9-15, 12-22,
    18-33, 25-29). Cached: the returned object is immutable.
    """
    loads = _read_csv("ieee33_loads.csv")
    lines = _read_csv("ieee33_branches.csv")
    pv = _read_csv("ieee33_pv.csv")
    n = len(loads)
    names = tuple(r["bus"] for r in loads)
    if names != tuple(str(k) for k in range(1, n + 1)):
        raise ValueError("ieee33_loads.csv must list buses 1..33 in order")
    zone = np.full(n, -1, dtype=np.int64)
    for z, buses in enumerate(IEEE33_ZONES):
        zone[[b - 1 for b in buses]] = z
    return Network(
        name="IEEE33",
        base_kv=IEEE33_BASE_KV,
        bus_names=names,
        line_from=np.array([int(r["from_bus"]) - 1 for r in lines]),
        line_to=np.array([int(r["to_bus"]) - 1 for r in lines]),
        r_ohm=np.array([float(r["r_ohm"]) for r in lines]),
        x_ohm=np.array([float(r["x_ohm"]) for r in lines]),
        rating_ka=np.array([float(r["rating_a"]) / 1000.0 for r in lines]),
        in_service=np.array([r["normally_open"] == "0" for r in lines]),
        normally_open=np.array([r["normally_open"] == "1" for r in lines]),
        load_p_mw=np.array([float(r["p_kw"]) / 1000.0 for r in loads]),
        load_q_mvar=np.array([float(r["q_kvar"]) / 1000.0 for r in loads]),
        zone=zone,
        pv_bus=np.array([int(r["bus"]) - 1 for r in pv], dtype=np.int64),
        pv_p_max_mw=np.array([float(r["p_max_mw"]) for r in pv]),
    )


def derive_line_ratings(net: Network) -> np.ndarray:
    """Line ratings (A) by this module's rule: the smallest standard ampacity >= RATING_MARGIN x
    max(current at the published peak load, current in full PV export with no load); tie lines
    (normally open) take the smaller rating of the lines at their two ends. ``rating_a`` in the
    data file is this function's output (a test keeps them equal)."""
    from tasks.power_grid.powerflow import solve_power_flow

    base = net.reconfigure(open_lines=np.flatnonzero(net.normally_open),
                           close_lines=np.flatnonzero(~net.normally_open))
    p = np.stack([net.load_p_mw, np.zeros(net.n_bus)])
    q = np.stack([net.load_q_mvar, np.zeros(net.n_bus)])
    p[1, net.pv_bus] = -net.pv_p_max_mw
    design = solve_power_flow(base, p, q).line_current_ka.max(axis=0) * 1000.0
    rating = np.zeros(net.n_lines)
    closed = np.flatnonzero(~net.normally_open)
    rating[closed] = [rating_from_current(a) for a in design[closed]]
    for li in np.flatnonzero(net.normally_open):
        ends = [net.line_from[li], net.line_to[li]]
        touching = [k for k in closed if net.line_from[k] in ends or net.line_to[k] in ends]
        rating[li] = min(rating[k] for k in touching)
    return rating


def rating_from_current(current_a: float) -> float:
    """The rating rule of this module: smallest standard ampacity >= RATING_MARGIN x current."""
    need = RATING_MARGIN * current_a
    for amp in STANDARD_AMPACITIES_A:
        if amp >= need:
            return float(amp)
    raise ValueError(f"no standard ampacity covers {need:.0f} A; extend STANDARD_AMPACITIES_A")


def multi_feeder(base: Network, n_feeders: int) -> Network:
    """``n_feeders`` copies of ``base`` (all its buses but the slack, with their lines, loads,
    zones and PV inverters) connected to one substation bus. Copy ``f``'s bus ``b`` is named ``f"f{f}/{b}"``;
    zones are numbered ``f · n_zones + zone``. ``n_feeders = 1`` returns ``base`` unchanged."""
    if isinstance(n_feeders, bool) or not isinstance(n_feeders, (int, np.integer)) or n_feeders < 1:
        raise ValueError(f"n_feeders must be an integer >= 1, got {n_feeders!r}")
    if n_feeders == 1:
        return base
    if base.shunt_pu is not None:
        raise ValueError(f"multi_feeder copies shunt-free feeders only; {base.name} has shunts")
    s = base.slack_bus
    others = np.array([b for b in range(base.n_bus) if b != s])
    nb = len(others)
    new_index = np.empty(base.n_bus, dtype=np.int64)
    names = ["0"]
    n_zones = int(base.zone.max()) + 1
    zone = [-1]
    lp, lq = [0.0], [0.0]
    pv_bus, pv_p = [], []
    lf, lt = [], []
    for f in range(n_feeders):
        new_index[s] = 0
        new_index[others] = 1 + f * nb + np.arange(nb)
        names += [f"f{f}/{base.bus_names[b]}" for b in others]
        zone += (base.zone[others] + f * n_zones).tolist()
        lp += base.load_p_mw[others].tolist()
        lq += base.load_q_mvar[others].tolist()
        lf.append(new_index[base.line_from])
        lt.append(new_index[base.line_to])
        pv_bus += new_index[base.pv_bus].tolist()
        pv_p += base.pv_p_max_mw.tolist()
    rep = lambda a: np.tile(np.asarray(a), n_feeders)  # noqa: E731
    return Network(
        name=f"{base.name}x{n_feeders}", base_kv=base.base_kv, bus_names=tuple(names),
        line_from=np.concatenate(lf), line_to=np.concatenate(lt), r_ohm=rep(base.r_ohm),
        x_ohm=rep(base.x_ohm), rating_ka=rep(base.rating_ka), in_service=rep(base.in_service),
        normally_open=rep(base.normally_open), load_p_mw=np.array(lp), load_q_mvar=np.array(lq),
        zone=np.array(zone), pv_bus=np.array(pv_bus, dtype=np.int64), pv_p_max_mw=np.array(pv_p),
        slack_bus=0, slack_vm_pu=base.slack_vm_pu)


def build_network(name: str, n_feeders: int = 1, slack_vm_pu: float = 1.0) -> Network:
    """The network a task names in its parameters: ``"ieee33"`` with ``n_feeders`` copies, or
    ``"simbench_mv_rural"`` (``simbench_mv.py``; one feeder, its own ext-grid voltage)."""
    if name == "simbench_mv_rural":
        from tasks.power_grid.simbench_mv import simbench_mv_rural

        if n_feeders != 1:
            raise ValueError("network simbench_mv_rural has no copies; set n_feeders: 1")
        base = simbench_mv_rural()
        if slack_vm_pu != base.slack_vm_pu:
            base = replace(base, slack_vm_pu=float(slack_vm_pu))
        return base
    if name != "ieee33":
        raise ValueError(f"unknown network {name!r}; available: 'ieee33', 'simbench_mv_rural'")
    base = ieee33()
    if slack_vm_pu != base.slack_vm_pu:
        base = replace(base, slack_vm_pu=float(slack_vm_pu))
    return multi_feeder(base, n_feeders)


def zone_members(net: Network) -> list[np.ndarray]:
    """Bus indices of every zone, zone 0 first (each sorted)."""
    return [np.flatnonzero(net.zone == z) for z in range(int(net.zone.max()) + 1)]


def buses_named(net: Network, names: Sequence[str]) -> np.ndarray:
    return np.array([net.bus(x) for x in names], dtype=np.int64)
