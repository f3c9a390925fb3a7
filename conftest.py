"""Root conftest: only loads the pytest plugins (fixtures live there)."""

pytest_plugins = ["harness.pytest_plugin", "contracts._fixtures"]
