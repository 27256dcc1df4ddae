"""Mutation testing of the modules that decide permissions, staleness, ledger transitions, the DLQ
path and the validator's verdicts: `make mutants` (python -m tests.mutation). Not part of `make test`."""
