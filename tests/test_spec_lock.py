"""A released spec never changes: its canonical content's sha256 is in tasks/specs.lock.json."""

import json

import pytest

import bench.registry as reg
from bench.spec import SpecError

SPECS = reg.all_specs()


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_released_spec_matches_lock(spec):
    lock = reg.read_lock()
    assert spec.id in lock, (f"{spec.id} is not in tasks/specs.lock.json: release it with "
                             "`rao-bench lock` once its content is final")
    assert lock[spec.id] == spec.sha256, (
        f"{spec.id}'s content changed after release. Restore {spec.path.name} and put the change "
        f"in a new version (-v{reg.parse_id(spec.id)[2] + 1}) instead.")


def test_every_locked_spec_still_exists():
    missing = set(reg.read_lock()) - {s.id for s in SPECS}
    assert not missing, f"released specs were deleted: {sorted(missing)}; released versions stay"


def test_write_lock_refuses_changed_content(tmp_path, monkeypatch):
    lock = tmp_path / "specs.lock.json"
    lock.write_text(json.dumps({s.id: "0" * 64 for s in SPECS}))
    monkeypatch.setattr(reg, "LOCK_PATH", lock)
    if SPECS:
        with pytest.raises(SpecError, match="new version"):
            reg.write_lock()
