"""Leaderboard: ranking and ties worked out by hand, then whole builds from genuine evaluations.

The genuine results come from ``bench.protocol.evaluate`` on two small toy tasks registered for
this module (so the tests do not depend on any real task's numbers) with the registered random
baseline and a few policies defined here, one of them an oracle. Every file goes through the real
validator, including its recompute stage.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any, Mapping

import pytest
import numpy as np
from gymnasium import spaces

import bench.registry as reg
from bench import leaderboard as lb
from bench.env_base import RaoParallelEnv
from bench.policy import PolicyInfo
from bench.protocol import evaluate
from bench.results import dumps
from bench.spec import EnvConfig, parse_spec

# ------------------------------------------------------------------------------ ranking by hand


def item(values, low, high, seeds=None) -> lb.Scored:
    m = np.atleast_2d(np.asarray(values, dtype=float))
    return lb.Scored(float(m.mean()), low, high, m, tuple(seeds or range(m.shape[1])))


def labels(items: list[lb.Scored]) -> list[tuple[int, str]]:
    return [(p.index, p.label) for p in lb.rank_paired(items)]


def test_rank_paired_hand_worked() -> None:
    """Worked by hand (also in docs/metrics.md):
    A = [1.0, 0.8, 0.9, 1.0] (mean .925), B = [0.9, 1.0, 0.8, 0.9] (mean .900): A − B =
    [.1, −.2, .1, .1]; a resample of 4 seed differences has a negative mean whenever it draws −.2
    at least twice, P = 1 − (3/4)^4 − 4·(1/4)(3/4)^3 ≈ .26 > 2.5 %, so the paired 95% CI contains
    0 and the CIs overlap: A and B share rank 1.
    C = [.7, .7, .7, .7]: its CI [.6, .84] overlaps B's [.83, .97] but not A's [.85, 1.0]; the old
    chaining rule joined it to {A, B}; now it must be inseparable from every member, so it ranks
    3. D = C exactly: the difference is 0 on every seed, so D ties with C at =3.
    E = [.1, .2, .1, .2]: B − E > 0 on every seed; alone at 5."""
    A = item([1.0, 0.8, 0.9, 1.0], 0.85, 1.0)
    B = item([0.9, 1.0, 0.8, 0.9], 0.83, 0.97)
    C = item([0.7] * 4, 0.6, 0.84)
    D = item([0.7] * 4, 0.6, 0.84)
    E = item([0.1, 0.2, 0.1, 0.2], 0.1, 0.2)
    assert labels([E, C, A, D, B]) == [(2, "=1"), (4, "=1"), (1, "=3"), (3, "=3"), (0, "5")]


def test_overlapping_cis_are_split_by_the_paired_test() -> None:
    """Wide, overlapping CIs (seed-to-seed variation) but one entry better on every seed by 0.05:
    the paired comparison separates them, an unpaired CI-overlap rule could not."""
    base = np.array([0.2, 0.9, 0.5, 0.7, 0.3, 0.8])
    X, Y = item(base + 0.05, 0.3, 0.8), item(base, 0.25, 0.75)
    assert labels([Y, X]) == [(1, "1"), (0, "2")]


def test_disjoint_cis_never_share_a_rank_and_rank_follows_the_mean() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        items = []
        for _ in range(6):
            v = rng.uniform(0, 1) + rng.normal(0, 0.2, size=8)
            se = v.std() / np.sqrt(8)
            items.append(item(v, v.mean() - 2 * se, v.mean() + 2 * se))
        places = lb.rank_paired(items)
        means = [items[p.index].mean for p in places]
        assert means == sorted(means, reverse=True)
        for p in places:
            for q in places:
                if p.rank == q.rank and p.index != q.index:
                    a, b = items[p.index], items[q.index]
                    assert lb.overlaps((a.low, a.high), (b.low, b.high))


def test_rank_equal_means_keep_callers_order() -> None:
    same = [item([2.0, 2.0], 2.0, 2.0), item([2.0, 2.0], 2.0, 2.0), item([1.0, 1.0], 1.0, 1.0)]
    places = lb.rank_paired(same)
    assert [(p.index, p.position, p.rank, p.tied) for p in places] == [
        (0, 1, 1, True), (1, 2, 1, True), (2, 3, 3, False)]
    assert lb.rank_paired([]) == []


def test_pairing_uses_only_shared_seeds() -> None:
    # equal on seeds 1 and 2; X's extra seed 9 with value 5 is not a paired observation
    X = item([1.0, 1.0, 5.0], 0.0, 6.0, seeds=[1, 2, 9])
    Y = item([1.0, 1.0], 0.5, 1.5, seeds=[1, 2])
    assert lb.inseparable(X, Y)


# ------------------------------------------------------------------------------ toy tasks


class BetEnv(RaoParallelEnv):
    """Each agent bets whether a random walk will be above zero after the next step. The walk
    persists, so betting on its current sign beats chance; the whole path is drawn at reset (an
    oracle can read it). A shift scenario multiplies the step noise from its onset."""

    def __init__(self, config: EnvConfig) -> None:
        super().__init__(config)
        self.possible_agents = [f"a{i}" for i in range(config.scale.agents)]
        self._observation_spaces = {a: spaces.Box(-np.inf, np.inf, (1,), np.float64)
                                    for a in self.possible_agents}
        self._action_spaces = {a: spaces.Discrete(2) for a in self.possible_agents}
        self.level = 0.0
        self.path = np.zeros(self.horizon)

    def _reset_sim(self) -> None:
        steps = self.np_random.normal(size=self.horizon) * float(self.params["noise"])
        shift = self.config.scenario.shift
        if shift is not None:
            steps[int(shift["onset"]):] *= float(shift["factor"])
        self.path = np.cumsum(steps)
        self.level = 0.0

    def _step_sim(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict]:
        nxt = float(self.path[self.t])
        rewards, kpi, viol = {}, {}, {}
        for a in self.agents:
            bet = int(actions[a])
            hit = float(bet == int(nxt > 0))
            rewards[a] = hit
            kpi[a] = {"hits": hit, "bets": 1.0, "spend": 1.0 if bet else 0.2}
            viol[a] = {"overbet": max(0.0, -2.0 - self.level) if bet else 0.0,
                       "exposure": max(0.0, abs(self.level) - 4.0)}
        self.level = nxt
        return rewards, kpi, viol

    def _observe(self) -> dict[str, Any]:
        return {a: np.array([self.level]) for a in self.possible_agents}

    def state(self) -> np.ndarray:
        return np.array([self.level, self.t], dtype=np.float64)


def toy_raw(task_id: str, noise: float) -> dict[str, Any]:
    return {
        "id": task_id, "description": "Toy betting task for leaderboard tests.",
        "entry_point": "tests.test_leaderboard:BetEnv", "horizon": 20,
        "parameters": {"noise": noise},
        "scales": [{"name": "small", "agents": 2}, {"name": "medium", "agents": 4, "nominal": True},
                   {"name": "large", "agents": 8}],
        "scenarios": [{"name": "nominal", "nominal": True},
                      {"name": "storm", "description": "noisier walk",
                       "shift": {"kind": "noise", "onset": 10, "factor": 3.0}}],
        "constraints": [{"name": "overbet", "quantity": "level", "bound": -2.0, "unit": "units"},
                        {"name": "exposure", "quantity": "level", "bound": 4.0, "unit": "units"}],
        "kpis": [{"name": "hit_rate", "unit": "share", "direction": "max",
                  "aggregate": {"kind": "ratio", "num": "hits", "den": "bets"},
                  "anchors": {"zero": 0.5, "one": 1.0, "source": "chance and perfect foresight"}},
                 {"name": "cost", "unit": "EUR/bet", "direction": "min",
                  "aggregate": {"kind": "ratio", "num": "spend", "den": "bets"},
                  "anchors": {"zero": 1.0, "one": 0.2, "source": "always bet, never bet"}}],
        "weights": {"hit_rate": 0.8, "cost": 0.2},
        "seeds": {"eval": list(range(1000, 1010)), "train": {"start": 0, "stop": 1000}},
        "recovery": {"kpi": "hit_rate", "window": 3, "band": 0.2},
        "capabilities": {"action_type": "discrete", "global_state": True},
    }


BET, WIDE = "toylb/Bet-v1", "toylb/Wide-v1"


class FollowSign:
    """Bets that the walk stays on its current side of zero."""

    info = PolicyInfo(name="follow-sign", version="1", paradigm="heuristic",
                      description="Bet on the current sign of the walk.")

    def __init__(self, env: Any) -> None:
        pass

    def reset(self, seed: int) -> None:
        pass

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return {a: int(o[0] > 0) for a, o in observations.items()}


class Contrarian(FollowSign):
    info = PolicyInfo(name="contrarian", version="2", paradigm="heuristic",
                      description="Bet against the current sign of the walk.")

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return {a: int(o[0] <= 0) for a, o in observations.items()}


class Evil(FollowSign):
    """Same behaviour as FollowSign (so the two tie exactly), under a hostile name."""

    info = PolicyInfo(name='<script>alert("x")</script> | $\\alpha$', version="1",
                      paradigm="heuristic", description="<b>bold</b>")


class Peek:
    """Reads the realised path from the env: an oracle."""

    info = PolicyInfo(name="peek", version="1", paradigm="oracle", description="Perfect foresight.")

    def __init__(self, env: Any) -> None:
        self.env = env

    def reset(self, seed: int) -> None:
        pass

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return {a: int(self.env.path[self.env.t] > 0) for a in observations}


HERE = "tests.test_leaderboard"
RUNS = {  # file name -> (task, policy, protocol)
    "toylb/Bet-v1/random.json": (BET, "random", "full"),
    "toylb/Bet-v1/follow-sign.json": (BET, f"{HERE}:FollowSign", "full"),
    "toylb/Bet-v1/contrarian.json": (BET, f"{HERE}:Contrarian", "full"),
    "toylb/Bet-v1/evil.json": (BET, f"{HERE}:Evil", "full"),
    "toylb/Bet-v1/peek.json": (BET, f"{HERE}:Peek", "full"),
    "toylb/Bet-v1/follow-sign-quick.json": (BET, f"{HERE}:FollowSign", "quick"),
    "toylb/Wide-v1/random.json": (WIDE, "random", "full"),
    "toylb/Wide-v1/follow-sign.json": (WIDE, f"{HERE}:FollowSign", "full"),
}


@pytest.fixture(scope="module")
def toy_registry():
    """Register the toy tasks for this module only, and lock their hashes (and those of released
    specs not yet in tasks/specs.lock.json; the lock's own entries win)."""
    specs = dict(reg._specs())
    for tid, noise in ((BET, 1.0), (WIDE, 2.0)):
        specs[tid] = parse_spec(toy_raw(tid, noise), Path(f"{tid.split('/')[1]}.yaml"))
    lock = {**{t: s.sha256 for t, s in specs.items()}, **reg.read_lock()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reg, "_specs", lambda: specs)
        mp.setattr(reg, "read_lock", lambda: dict(lock))
        yield specs


@pytest.fixture(scope="module")
def results(toy_registry) -> dict[str, str]:
    """File name -> canonical JSON text of a genuine evaluation."""
    return {name: dumps(evaluate(task, ref, proto, workers=1, progress=False, command="pytest"))
            for name, (task, ref, proto) in RUNS.items()}


def submissions(root: Path, results: Mapping[str, str], names: list[str] | None = None) -> Path:
    sub = root / "submissions"
    for name in names or sorted(results):
        (sub / name).parent.mkdir(parents=True, exist_ok=True)
        (sub / name).write_text(results[name], encoding="utf-8")
    return sub


@pytest.fixture(scope="module")
def built(tmp_path_factory, results) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lb")
    sub = submissions(root, results)
    out = root / "out"
    lb.build(sub, out)
    return sub, out


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ builds


def test_every_result_is_genuine_and_valid(toy_registry, results) -> None:
    from bench.validate import validate_document

    for name, text in results.items():
        report = validate_document(json.loads(text), source=name)
        assert report.ok, [str(p) for p in report.errors]


def test_build_writes_every_expected_file(built) -> None:
    _, out = built
    plots = [f"plots/toylb__{t}-v1__{k}.png" for t in ("Bet", "Wide")
             for k in ("hyperscore", "scale", "shift", "safety")]
    expected = {"README.md", "index.html", "csv/overall.csv", "csv/toylb__Bet-v1.csv",
                "csv/toylb__Wide-v1.csv", *plots}
    assert set(tree(out)) == expected
    for p in plots:
        assert (out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "## toylb/Bet-v1" in readme and "## Rejected submissions" in readme
    assert "hit\\_rate (share) ↑" in readme and "cost (EUR/bet) ↓" in readme
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<img src="plots/toylb__Bet-v1__hyperscore.png"' in page
    # no external assets: the one script is inline, every src/href is local (or a data: icon)
    assert page.count("<script") == 1 and "<script src" not in page
    assert not re.search(r'<(?:script|img|link)[^>]*\s(?:src|href)="(?!data:|plots/|csv/)', page)


def test_rebuild_is_byte_identical(built, tmp_path) -> None:
    sub, out = built
    first = tree(out)
    lb.build(sub, tmp_path / "again")
    assert tree(tmp_path / "again") == first
    lb.build(sub, out)  # rebuilding in place changes nothing
    assert tree(out) == first
    text = b"".join(first.values())
    assert str(tmp_path).encode() not in text and str(sub).encode() not in text


def test_check_is_empty_after_build_and_names_changes(results, tmp_path) -> None:
    sub = submissions(tmp_path, results, ["toylb/Bet-v1/follow-sign.json", "toylb/Bet-v1/random.json"])
    out = tmp_path / "out"
    lb.build(sub, out)
    assert lb.check(sub, out) == []

    path = out / "csv" / "toylb__Bet-v1.csv"
    path.write_text(path.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert lb.check(sub, out) == ["csv/toylb__Bet-v1.csv"]
    (out / "plots" / "old.png").write_bytes(b"x")
    (out / "index.html").unlink()
    assert lb.check(sub, out) == ["csv/toylb__Bet-v1.csv", "index.html", "plots/old.png"]

    lb.build(sub, out)  # removes the stray plot, restores the rest
    assert lb.check(sub, out) == [] and not (out / "plots" / "old.png").exists()
    (sub / "toylb" / "Bet-v1" / "contrarian.json").write_text(results["toylb/Bet-v1/contrarian.json"], encoding="utf-8")
    stale = lb.check(sub, out)
    assert {"README.md", "index.html", "csv/toylb__Bet-v1.csv", "csv/overall.csv"} <= set(stale)


def test_ranking_order_ties_oracle_and_quick(built) -> None:
    _, out = built
    rows = read_csv(out / "csv" / "toylb__Bet-v1.csv")
    main = [r for r in rows if r["status"] in ("ranked", "oracle")]
    hs = [float(r["hyperscore_mean"]) for r in main]
    assert hs == sorted(hs, reverse=True)
    assert [r["name"] for r in rows if r["status"] == "oracle"] == ["peek"]
    oracle = next(r for r in rows if r["status"] == "oracle")
    assert oracle["rank"] == "" and oracle["oracle_gap"] == ""
    ranked = [r for r in main if r["status"] == "ranked"]
    assert [r["name"] for r in ranked[:2]] == ['<script>alert("x")</script> | $\\alpha$', "follow-sign"]
    # identical behaviour, identical scores: tied, sharing rank 1
    assert [(r["rank"], r["tied"]) for r in ranked[:2]] == [("1", "true"), ("1", "true")]
    # every later rank follows the rule from the CIs in the table
    for above, r in zip(ranked, ranked[1:]):
        joins = float(r["hyperscore_ci_high"]) >= float(above["hyperscore_ci_low"])
        assert (r["rank"] == above["rank"]) == joins
    v_oracle = float(oracle["V_mean"])
    for r in ranked:
        assert float(r["oracle_gap"]) == pytest.approx(1 - float(r["V_mean"]) / v_oracle, rel=1e-5)
    quick = [r for r in rows if r["status"] == "quick"]
    assert [(q["name"], q["rank"], q["n_episodes"]) for q in quick] == [("follow-sign", "", "2")]

    readme = (out / "README.md").read_text(encoding="utf-8")
    bet = readme.split("## toylb/Bet-v1")[1].split("## toylb/Wide-v1")[0]
    assert "| =1 | follow-sign v1 |" in bet
    assert "| oracle (bound, not ranked) | peek v1 |" in bet
    assert "gap to oracle" in bet and "gap to oracle" not in readme.split("## toylb/Wide-v1")[1]
    assert "### Not ranked (quick protocol)" in bet
    assert bet.index("### Not ranked (quick protocol)") > bet.index("peek v1")


def test_overall_ranks_only_entries_on_every_task(built) -> None:
    _, out = built
    rows = {(r["name"], r["version"]): r for r in read_csv(out / "csv" / "overall.csv")}
    fs, rnd = rows[("follow-sign", "1")], rows[("random", "1")]
    assert fs["n_tasks"] == rnd["n_tasks"] == "2" and fs["rank"] == "1" and rnd["rank"] == "2"
    assert float(fs["poi_vs_reference"]) > 0.9 and fs["poi_tasks"] == "2" and rnd["poi_vs_reference"] == ""
    con = rows[("contrarian", "2")]
    assert con["rank"] == "" and con["n_tasks"] == "1" and "1 of 2 current tasks" in con["note"]
    assert rows[("peek", "1")]["rank"] == "" and rows[("peek", "1")]["status"] == "oracle"
    # the aggregate is the mean over tasks of each task's nominal V mean (equal seed counts)
    per_task = [float(r["V_mean"]) for t in ("Bet", "Wide")
                for r in read_csv(out / "csv" / f"toylb__{t}-v1.csv")
                if r["name"] == "follow-sign" and r["status"] == "ranked"]
    assert float(fs["V_mean"]) == pytest.approx(np.mean(per_task), rel=1e-5)
    assert float(fs["V_ci_low"]) <= float(fs["V_mean"]) <= float(fs["V_ci_high"])


def test_invalid_submissions_are_excluded_and_listed(results, tmp_path, capsys) -> None:
    sub = submissions(tmp_path, results, ["toylb/Bet-v1/random.json", "toylb/Bet-v1/follow-sign.json"])
    doc = json.loads(results["toylb/Bet-v1/contrarian.json"])
    doc["summary"]["nominal"]["V"]["mean"] += 0.25  # a flattering summary the episodes don't support
    (sub / "toylb" / "Bet-v1" / "tampered.json").write_text(dumps(doc), encoding="utf-8")
    (sub / "toylb" / "Bet-v1" / "broken.json").write_text("{not json", encoding="utf-8")
    out = tmp_path / "out"

    assert lb.main_leaderboard(str(sub), str(out), check=False) == 1
    err = capsys.readouterr().err
    assert "toylb/Bet-v1/tampered.json" in err and "toylb/Bet-v1/broken.json" in err
    readme = (out / "README.md").read_text(encoding="utf-8")
    rejected = readme.split("## Rejected submissions")[1]
    assert "toylb/Bet-v1/tampered.json" in rejected and "summary.nominal.V.mean" in rejected
    assert "toylb/Bet-v1/broken.json" in rejected and "not valid JSON" in rejected
    assert str(tmp_path) not in readme
    names = {r["name"] for r in read_csv(out / "csv" / "toylb__Bet-v1.csv")}
    assert names == {"random", "follow-sign"}
    # the board is still built and up to date; --check fails only because of the invalid files
    assert lb.check(sub, out) == []
    assert lb.main_leaderboard(str(sub), str(out), check=True) == 1
    (sub / "toylb" / "Bet-v1" / "tampered.json").unlink()
    (sub / "toylb" / "Bet-v1" / "broken.json").unlink()
    assert lb.main_leaderboard(str(sub), str(out), check=True) == 1  # README still lists them
    assert lb.main_leaderboard(str(sub), str(out), check=False) == 0
    assert lb.main_leaderboard(str(sub), str(out), check=True) == 0
    assert "up to date" in capsys.readouterr().out


def test_duplicate_entry_is_rejected(results, tmp_path) -> None:
    sub = submissions(tmp_path, results, ["toylb/Bet-v1/random.json"])
    shutil.copy(sub / "toylb" / "Bet-v1" / "random.json", sub / "toylb" / "Bet-v1" / "random-again.json")
    entries, rejected = lb.load_submissions(sub)
    assert [e.source for e in entries] == ["toylb/Bet-v1/random-again.json"]
    assert [r.source for r in rejected] == ["toylb/Bet-v1/random.json"]
    assert "duplicate of toylb/Bet-v1/random-again.json" in rejected[0].problems[0]


def test_untrusted_text_is_escaped(built) -> None:
    _, out = built
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; | $\\alpha$ v1" in page
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "<script>" not in readme
    assert "&lt;script&gt;alert(\"x\")&lt;/script&gt; \\| $\\\\alpha$ v1" in readme
    # the name's '|' cannot break the table: every row of a table has the same number of cells
    for block in readme.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.startswith("| ")]
        cells = {len([c for c in ln.replace("\\|", "").split("|")]) for ln in lines}
        assert len(cells) <= 1, block


def test_empty_submissions_dir(tmp_path) -> None:
    out = tmp_path / "out"
    written = lb.build(tmp_path / "nothing", out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == ["README.md", "csv/overall.csv",
                                                                      "index.html"]
    assert "No valid submissions yet." in (out / "README.md").read_text(encoding="utf-8")
    assert lb.check(tmp_path / "nothing", out) == []


SERIAL = "supply_chain/Serial-v1"


def test_serial_reference_baselines(toy_registry, genuine_result_text, tmp_path) -> None:
    """Genuine full-protocol runs on the real Serial-v1: the random baseline (the session's shared
    run) and the committed reference results of every other registered baseline for the task
    (made by `rao-bench baselines`; re-running them all here would cost minutes)."""
    committed = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions" / "supply_chain" / "Serial-v1"
    texts = {"random": genuine_result_text}
    for path in sorted(committed.glob("*.json")):
        if path.stem != "random":
            texts[path.stem] = path.read_text(encoding="utf-8")
    assert len(texts) >= 5, "the committed Serial-v1 reference results are missing"
    sub = tmp_path / "submissions" / "supply_chain" / "Serial-v1"
    sub.mkdir(parents=True)
    for name, text in texts.items():
        (sub / f"{name}.json").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert lb.main_leaderboard(str(tmp_path / "submissions"), str(out), check=False) == 0
    rows = read_csv(out / "csv" / "supply_chain__Serial-v1.csv")
    assert len(rows) == len(texts) and "random" in {r["name"] for r in rows}
    assert all(r["rank"] != "" for r in rows if r["status"] == "ranked")
    # Serial-v1 is superseded by Serial-v2: its table sits in the archive, without plots
    assert "# Archive: older task versions" in (out / "README.md").read_text(encoding="utf-8")
    assert not (out / "plots" / "supply_chain__Serial-v1__hyperscore.png").exists()
    assert lb.check(tmp_path / "submissions", out) == []
