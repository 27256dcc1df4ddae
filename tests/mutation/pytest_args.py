"""The pytest arguments of every mutant run, shared by the runner and the fork server (which is
started as a script, so it imports this as a sibling module)."""

# A fixed Hypothesis seed (and no example database, see forkserver.py): a mutant is killed or not
# whatever ran before it, so the equivalents list means the same from one run to the next.
PYTEST_ARGS = (
    "-x",
    "-q",
    "-p",
    "no:randomly",
    "-p",
    "no:cacheprovider",
    "--no-header",
    "-o",
    "addopts=",
    "--hypothesis-seed=0",
)
