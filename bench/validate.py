"""Old import path of the validator; the code lives in :mod:`bench.submit` (one module per stage)."""

from bench.submit.common import (ERROR, MAX_BYTES, MAX_EXACT_INT, SKIPPED, STAGES, TOL, WARNING,  # noqa: F401
                                 Problem, Report, json_path)
from bench.submit.stages.numbers import hyperscore_range  # noqa: F401
from bench.submit.stages.provenance import PROVENANCE_FIELDS  # noqa: F401
from bench.submit.stages.schema import SCHEMA_PATH  # noqa: F401
from bench.submit.validator import (format_report, main_validate, validate_document,  # noqa: F401
                                    validate_file)
from bench.submit.validator import load_valid  # noqa: F401,E402
from bench.submit.text import csv_cell, name_key  # noqa: F401,E402
