"""Root conftest: only loads the harness's pytest plugin (fixtures live there)."""

pytest_plugins = ["harness.pytest_plugin"]
