"""Old import path of the validator; the code lives in :mod:`bench.submit` (one module per stage)."""

from bench.submit.common import (ERROR, MAX_BYTES, MAX_EXACT_INT, SKIPPED, STAGES, TOL, WARNING,
                                 Problem, Report, json_path)
from bench.submit.stages.numbers import hyperscore_range
from bench.submit.stages.provenance import PROVENANCE_FIELDS
from bench.submit.stages.schema import SCHEMA_PATH
from bench.submit.text import csv_cell, name_key
from bench.submit.validator import (format_report, load_valid, main_validate, validate_document,
                                    validate_file)

__all__ = ["ERROR", "MAX_BYTES", "MAX_EXACT_INT", "SKIPPED", "STAGES", "TOL", "WARNING", "Problem",
           "Report", "json_path", "hyperscore_range", "PROVENANCE_FIELDS", "SCHEMA_PATH", "csv_cell",
           "name_key", "format_report", "load_valid", "main_validate", "validate_document",
           "validate_file"]
