"""energykit benchmarks: `python -m benchmarks` prints every side-by-side ratio (see README)."""
