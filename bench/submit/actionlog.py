"""The action log of one episode: every joint action the policy chose, compressed, with a digest.

Why: a result file is data; only re-playing its actions on the released env shows that its records
come from that env and those actions (``bench.submit.replay``). The log is written by the harness
(``bench.episode.run_episode``), never by the policy.

Format ``rao-actions-1`` (before compression): one JSON header line, then per agent column its
presence bitmap (``numpy.packbits`` over the steps) and its actions stacked over the steps where it
acted, as raw bytes of a fixed dtype and shape. The header records, per agent, how an action was
given (``kind``: numpy array ``a``, numpy scalar ``g``, Python ``int``/``float``/``bool``, list
``l``) so that the replay hands the env exactly the same kind of value. The digest is the sha256 of
these bytes; the stored form is ``base64(xz(bytes))``. Decoding is bounded (``MAX_RAW_BYTES``) so
that a hostile log cannot exhaust memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import lzma
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

CODEC = "rao-actions-1/xz/base64"
MAX_RAW_BYTES = 256 * 1024 * 1024
_KINDS = {"a", "g", "i", "f", "b", "l"}


class ActionLogError(ValueError):
    """A log that cannot be written (an action of an unsupported kind) or read (damaged)."""


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "a"
    if isinstance(value, np.generic):
        return "g"
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    if isinstance(value, (list, tuple)):
        return "l"
    raise ActionLogError(f"an action of type {type(value).__name__} cannot be logged; expected a "
                         "number, a numpy array or a list of numbers")


@dataclass
class _Column:
    kind: str
    dtype: str
    shape: tuple[int, ...]
    present: list[bool] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)


@dataclass
class ActionRecorder:
    """Collects one episode's joint actions, step by step (a copy of each, taken at once)."""

    agents: Sequence[str]
    steps: int = 0
    _cols: dict[str, _Column] = field(default_factory=dict)

    def add(self, actions: Mapping[str, Any]) -> None:
        unknown = [a for a in actions if a not in self.agents]
        if unknown:
            raise ActionLogError(f"actions for unknown agent(s) {unknown[:3]}")
        for agent in self.agents:
            if agent not in actions:
                col = self._cols.get(agent)
                if col is not None:
                    col.present.append(False)
                continue
            value = actions[agent]
            kind = _kind(value)
            arr = np.array(value, dtype=np.int64 if kind == "i" else None, copy=True)
            if arr.dtype == object or arr.dtype.kind not in "biuf":
                raise ActionLogError(f"agent {agent!r}: action of dtype {arr.dtype} cannot be logged")
            col = self._cols.get(agent)
            if col is None:
                col = self._cols[agent] = _Column(kind, arr.dtype.str, tuple(arr.shape),
                                                  [False] * self.steps)
            elif (kind, arr.dtype.str, tuple(arr.shape)) != (col.kind, col.dtype, col.shape):
                raise ActionLogError(f"agent {agent!r}: action changed from {col.kind}/{col.dtype}"
                                     f"{list(col.shape)} to {kind}/{arr.dtype.str}{list(arr.shape)} "
                                     f"at step {self.steps}; expected one kind, dtype and shape")
            col.present.append(True)
            col.rows.append(arr)
        self.steps += 1

    def raw(self) -> bytes:
        cols = [(a, self._cols[a]) for a in self.agents if a in self._cols]
        header = {"format": "rao-actions-1", "steps": self.steps,
                  "cols": [{"agent": a, "kind": c.kind, "dtype": c.dtype, "shape": list(c.shape)}
                           for a, c in cols]}
        parts = [json.dumps(header, sort_keys=True).encode() + b"\n"]
        for _, c in cols:
            present = c.present + [False] * (self.steps - len(c.present))
            parts.append(np.packbits(np.array(present, dtype=bool)).tobytes())
            parts.append(np.stack(c.rows).tobytes() if c.rows else b"")
        return b"".join(parts)

    def pack(self) -> dict[str, str]:
        """The episode record's ``actions`` field."""
        raw = self.raw()
        return {"codec": CODEC, "sha256": hashlib.sha256(raw).hexdigest(),
                "data": base64.b64encode(lzma.compress(raw, preset=6)).decode("ascii")}


def unpack_raw(field_: Any, max_raw: int = MAX_RAW_BYTES) -> bytes:
    """The raw log bytes of an episode's ``actions`` field, checked against its digest."""
    if not isinstance(field_, dict) or field_.get("codec") != CODEC:
        raise ActionLogError(f"expected an object with codec {CODEC!r}")
    try:
        blob = base64.b64decode(str(field_.get("data", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ActionLogError(f"data is not base64 ({exc})") from None
    return _decompress(blob, field_.get("sha256"), max_raw)


def _decompress(blob: bytes, sha256: Any, max_raw: int) -> bytes:
    dec = lzma.LZMADecompressor()
    try:
        raw = dec.decompress(blob, max_length=max_raw + 1)
    except lzma.LZMAError as exc:
        raise ActionLogError(f"data is not an xz stream ({exc})") from None
    if len(raw) > max_raw:
        raise ActionLogError(f"the log decompresses to more than {max_raw} bytes")
    if not dec.eof:
        raise ActionLogError("the xz stream is truncated")
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ActionLogError("the sha256 of the decompressed log differs from the recorded one")
    return raw


def decode(raw: bytes) -> list[dict[str, Any]]:
    """The joint actions, one dict per step, each value of the kind the policy gave."""
    head, sep, body = raw.partition(b"\n")
    try:
        header = json.loads(head) if sep else None
        steps = int(header["steps"])
        cols = header["cols"]
        assert header.get("format") == "rao-actions-1" and 0 <= steps <= 10**7
    except Exception:
        raise ActionLogError("the log's header is not a rao-actions-1 header") from None
    out: list[dict[str, Any]] = [{} for _ in range(steps)]
    pos = 0
    for c in cols:
        try:
            kind, dtype, shape, agent = c["kind"], np.dtype(c["dtype"]), tuple(int(s) for s in c["shape"]), str(c["agent"])
        except Exception:
            raise ActionLogError("a column of the log's header is malformed") from None
        if kind not in _KINDS or dtype.kind not in "biuf" or any(s < 0 for s in shape) or len(shape) > 8:
            raise ActionLogError(f"column {agent!r}: unsupported kind/dtype/shape")
        nmask = (steps + 7) // 8
        mask = np.unpackbits(np.frombuffer(body[pos:pos + nmask], dtype=np.uint8))[:steps].astype(bool)
        pos += nmask
        n = int(mask.sum())
        size = n * int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if len(mask) != steps or pos + size > len(body):
            raise ActionLogError(f"column {agent!r}: the log is shorter than its header says")
        rows = np.frombuffer(body[pos:pos + size], dtype=dtype).reshape((n, *shape))
        pos += size
        for row, t in zip(rows, np.flatnonzero(mask)):
            out[t][agent] = _value(kind, row)
    if pos != len(body):
        raise ActionLogError("the log has bytes after its last column")
    return out


def _value(kind: str, row: np.ndarray) -> Any:
    if kind == "a":
        return row.copy()
    if kind == "g":
        return row[()]
    if kind == "i":
        return int(row)
    if kind == "f":
        return float(row)
    if kind == "b":
        return bool(row)
    return row.tolist()


class LogPolicy:
    """Plays a logged episode back: ``act`` returns step t's joint action, ignoring observations."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        self.steps = steps
        self.t = 0

    def reset(self, seed: int) -> None:
        self.t = 0

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        if self.t >= len(self.steps):
            raise ActionLogError(f"the env asked for step {self.t}, but the log has {len(self.steps)} steps")
        actions = self.steps[self.t]
        self.t += 1
        return actions


# ------------------------------------------------------------------------------ sidecar file

SIDECAR_CODEC = "rao-actions-1/xz"
MAX_SIDECAR_BYTES = 512 * 1024 * 1024


def split_logs(result: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Move every inline log of ``result`` into one sidecar blob: returns the result (a copy)
    whose episodes point at ``[offset, length]`` slices, and the blob. Named by its sha256 and
    written beside the result (``actions/<sha256>.bin``), it keeps the JSON small (a full
    protocol's logs are megabytes: docs/submitting.md)."""
    out = dict(result)
    episodes, chunks, offset = [], [], 0
    for ep in result.get("episodes", []):
        act = ep.get("actions")
        if isinstance(act, dict) and act.get("codec") == CODEC and "data" in act:
            blob = base64.b64decode(act["data"])
            ep = dict(ep, actions={"codec": SIDECAR_CODEC, "sha256": act["sha256"],
                                   "sidecar": [offset, len(blob)]})
            chunks.append(blob)
            offset += len(blob)
        episodes.append(ep)
    blob = b"".join(chunks)
    out["episodes"] = episodes
    if chunks:
        digest = hashlib.sha256(blob).hexdigest()
        out["action_log"] = {"file": f"actions/{digest}.bin", "sha256": digest, "bytes": len(blob)}
    return out, blob


def inline_logs(result: dict[str, Any], folder: Any) -> dict[str, Any]:
    """The inverse of :func:`split_logs`: a copy of ``result`` whose episodes carry their logs
    inline again, read from its sidecar in ``folder`` (checked), so that results from several
    files can be joined (``rao-bench merge-runs``) and written with one new sidecar."""
    if not isinstance(result.get("action_log"), dict):
        return result
    blob = read_sidecar(result, folder)
    episodes = []
    for ep in result.get("episodes", []):
        act = ep.get("actions")
        if isinstance(act, dict) and act.get("codec") == SIDECAR_CODEC:
            episode_raw(act, blob)  # the slice decompresses to its digest
            off, n = act["sidecar"]
            ep = dict(ep, actions={"codec": CODEC, "sha256": act["sha256"],
                                   "data": base64.b64encode(blob[off:off + n]).decode("ascii")})
        episodes.append(ep)
    out = {k: v for k, v in result.items() if k != "action_log"}
    out["episodes"] = episodes
    return out


def read_sidecar(result: Mapping[str, Any], folder: Any) -> bytes:
    """The sidecar blob of ``result`` (a file in ``folder``), checked against its size and sha256."""
    from pathlib import Path

    meta = result.get("action_log")
    if not isinstance(meta, dict):
        raise ActionLogError("the result has no $.action_log, but an episode points into a sidecar")
    name = str(meta.get("file", ""))
    path = Path(folder) / name
    if not name.startswith("actions/") or "/" in name[len("actions/"):] or ".." in name:
        raise ActionLogError(f"$.action_log.file {name!r} is not actions/<sha256>.bin")
    if path.is_symlink() or not path.is_file():
        raise ActionLogError(f"the sidecar {name} is missing beside the result (or is a symlink)")
    size = path.stat().st_size
    if size > MAX_SIDECAR_BYTES or size != meta.get("bytes"):
        raise ActionLogError(f"the sidecar {name} has {size} bytes; $.action_log.bytes says {meta.get('bytes')}")
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256") or not name.endswith(f"{meta.get('sha256')}.bin"):
        raise ActionLogError(f"the sidecar {name} does not hash to $.action_log.sha256")
    return blob


def episode_raw(field_: Any, sidecar: bytes | None, max_raw: int = MAX_RAW_BYTES) -> bytes:
    """The raw log of one episode, inline or from its slice of ``sidecar``; digest checked."""
    if isinstance(field_, dict) and field_.get("codec") == SIDECAR_CODEC:
        where = field_.get("sidecar")
        if sidecar is None:
            raise ActionLogError("the episode's log is in a sidecar file that was not read")
        if not (isinstance(where, list) and len(where) == 2 and all(type(x) is int and x >= 0 for x in where)
                and where[0] + where[1] <= len(sidecar)):
            raise ActionLogError("the episode's sidecar slice lies outside the sidecar file")
        return _decompress(sidecar[where[0]:where[0] + where[1]], field_.get("sha256"), max_raw)
    return unpack_raw(field_, max_raw)
