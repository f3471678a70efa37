"""The test suite (a package, imported in importlib mode: no test module shadows another)."""
