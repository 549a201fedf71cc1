"""The submission path: how a result document is built, checked, replayed and verified.

- ``result``: build and serialise a result document (schema in ``schema/result.schema.json``).
- ``validator``: ``validate_file`` / ``validate_document`` run the stages below, in order.
- ``stages/``: one module per validation stage (schema, task, coverage, training, numbers,
  recompute, provenance, eligibility); each module is named for the check it makes.
- ``training``: the checks of a learner's ``algorithm.training`` block.
- ``common``: Problem, Report and the helpers every stage shares.
"""
