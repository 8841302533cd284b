from tests.service.conftest import live_server, make_settings  # noqa: F401
