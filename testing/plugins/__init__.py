"""pytest plugins, loaded by the root conftest's `pytest_plugins`."""
