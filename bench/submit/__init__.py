"""The submission path: how a result document is built, checked, replayed and verified.

- ``result``: build and serialise a result document (schema in ``schema/result.schema.json``).
- ``actionlog``: every episode's joint actions, compressed, with a sha256 digest (and the sidecar
  file ``actions/<sha256>.bin`` that holds them beside a result).
- ``validator``: ``validate_file`` / ``validate_document`` run the stages below, in order;
  ``load_valid`` is how the leaderboard reads a file (with the recomputed summary).
- ``stages/``: one module per validation stage (schema, text, task, coverage, training, numbers,
  recompute, actions, provenance, eligibility, identity); each is named for the check it makes.
- ``kpi_ranges``: the physical range of every KPI (not in the frozen spec YAMLs).
- ``text``: invisible/control characters, NFKC names, CSV formula escaping.
- ``location``: a file sits in its own task's folder under leaderboard/submissions/, no symlinks.
- ``identity``: leaderboard/entries.yaml (name -> owner, kind) and who may publish what.
- ``replay`` / ``verify`` / ``isolation``: ``rao-bench verify`` (replay every episode, rerun a
  sample with the policy in its own process, fresh seeds).
- ``ledger``: leaderboard/verified.json, the exact bytes that passed verification.
- ``board``: ``admit(path, root)``, the leaderboard's one call into all of the above.
- ``training``: the checks of a learner's ``algorithm.training`` block.
- ``common``: Problem, Report and the helpers every stage shares.
"""
