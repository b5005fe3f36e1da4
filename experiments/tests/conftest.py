"""The product tests' tiny project serves the experiments' tests too."""

from tests.conftest import project  # noqa: F401  (a fixture, found by pytest through this import)
