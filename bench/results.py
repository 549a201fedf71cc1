"""Old import path of the result builder; the code lives in :mod:`bench.submit.result`."""

from bench.submit.result import SCHEMA_PATH, SCHEMA_VERSION, build_result, dumps, provenance

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "build_result", "dumps", "provenance"]
from bench.export import to_frame  # noqa: E402,F401  (results as a tidy DataFrame)
