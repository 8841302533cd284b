"""Reporting tests use the serving tests' private copies of the trained artifacts."""

from tests.service.conftest import make_settings  # noqa: F401
