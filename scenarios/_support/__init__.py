"""What several suites share: running a Chaos Toolkit experiment and judging its journal."""
