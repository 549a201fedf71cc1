"""Registry: id grammar, suggestions for near misses, version warnings, overrides, frozen specs."""

import dataclasses
import warnings
from pathlib import Path

import pytest

import bench.registry as reg
from bench.spec import SpecError, parse_spec
from tests.toy_envs import RAW


def _toy(version: int, **changes):
    raw = {**RAW, "id": f"toy/Coin-v{version}", **changes}
    return parse_spec(raw, Path(f"Coin-v{version}.yaml"))


@pytest.fixture
def toy_registry(monkeypatch):
    specs = {s.id: s for s in (_toy(1), _toy(2))}
    monkeypatch.setattr(reg, "_specs", lambda: specs)
    return specs


def test_parse_id_grammar():
    assert reg.parse_id("supply_chain/Serial-v1") == ("supply_chain", "Serial", 1)
    assert reg.parse_id("supply_chain/Serial") == ("supply_chain", "Serial", None)
    with pytest.raises(reg.RegistryError, match="domain/Name-vN"):
        reg.parse_id("bad id with spaces")


def test_unknown_name_suggests_closest_versioned_id(toy_registry):
    """The suggestion is a full id that runs as it reads: the asked version if the name has it,
    else the newest (an unversioned suggestion would run whatever is newest, silently)."""
    with pytest.raises(reg.NameNotFound, match="Did you mean 'toy/Coin-v1'"):
        reg.get_spec("toy/Coni-v1")
    with pytest.raises(reg.NameNotFound, match="Did you mean 'toy/Coin-v2'"):
        reg.get_spec("toy/Coni")
    with pytest.raises(reg.NameNotFound, match="Did you mean 'toy/Coin-v2'"):
        reg.get_spec("toy/Coni-v9")


def test_unknown_version_lists_released(toy_registry):
    with pytest.raises(reg.VersionNotFound, match="toy/Coin-v1, toy/Coin-v2"):
        reg.get_spec("toy/Coin-v7")


def test_old_version_warns_and_names_newest(toy_registry):
    with pytest.warns(reg.DeprecatedTaskWarning, match="newest version is toy/Coin-v2"):
        reg.get_spec("toy/Coin-v1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.get_spec("toy/Coin-v2").id == "toy/Coin-v2"
    with pytest.warns(reg.UnversionedTaskWarning, match="resolved to the newest, toy/Coin-v2"):
        assert reg.get_spec("toy/Coin").id == "toy/Coin-v2"  # no version: the newest, said so


def test_override_typo_suggests_parameter(toy_registry):
    with pytest.raises(reg.UnknownOption, match="Did you mean 'noise'"):
        reg.env_config("toy/Coin-v2", nois=2.0)


def test_unknown_scale_and_scenario_are_named(toy_registry):
    with pytest.raises(reg.UnknownOption, match="scales: two"):
        reg.env_config("toy/Coin-v2", scale="tow")
    with pytest.raises(reg.UnknownOption, match="scenarios: nominal"):
        reg.env_config("toy/Coin-v2", scenario="shock")


def test_overrides_never_change_the_spec(toy_registry):
    cfg = reg.env_config("toy/Coin-v2", noise=5.0, horizon=7)
    assert cfg.params["noise"] == 5.0 and cfg.horizon == 7
    spec = reg.get_spec("toy/Coin-v2")
    assert spec.parameters["noise"] == 1.0 and spec.horizon == 20
    with pytest.raises(TypeError):
        spec.parameters["noise"] = 3.0  # read-only mapping
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.horizon = 3


def test_hash_tracks_content_not_layout():
    a = _toy(1)
    b = parse_spec({k: RAW[k] for k in reversed(list(RAW))} | {"id": "toy/Coin-v1"}, Path("x.yaml"))
    assert a.sha256 == b.sha256
    assert _toy(1, horizon=21).sha256 != a.sha256


@pytest.mark.parametrize("change, message", [
    ({"weights": {"total": 0.5}}, "sum to 1"),
    ({"weights": {"totl": 1.0}}, "not declared"),
    ({"seeds": {"eval": list(range(5)), "train": {"start": 100, "stop": 200}}}, "at least 10"),
    ({"seeds": {"eval": list(range(10)), "train": {"start": 0, "stop": 100}}}, "overlaps"),
    ({"scales": [{"name": "a", "agents": 2}]}, "exactly one scale"),
    ({"kpis": [{"name": "total", "direction": "max", "aggregate": {"kind": "sum", "of": "g"},
                "anchors": {"zero": 5.0, "one": 1.0}}]}, "one > zero"),
], ids=["weights-sum", "weights-unknown", "few-seeds", "seed-overlap", "no-nominal-scale", "anchors"])
def test_malformed_spec_is_explained(change, message):
    with pytest.raises(SpecError, match=message):
        parse_spec({**RAW, **change}, Path("bad.yaml"))


def test_unversioned_id_resolves_to_the_newest_and_says_so():
    from bench.registry import UnversionedTaskWarning, _versions, get_spec

    newest = _versions("supply_chain", "Serial")[-1]
    with pytest.warns(UnversionedTaskWarning, match=rf"resolved to the newest, supply_chain/Serial-v{newest}"):
        spec = get_spec("supply_chain/Serial")
    assert spec.id == f"supply_chain/Serial-v{newest}"
