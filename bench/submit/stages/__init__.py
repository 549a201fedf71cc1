"""One module per validation stage; :mod:`bench.submit.validator` runs them in order."""
