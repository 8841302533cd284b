"""Development helpers for the tests, benchmarks and scripts; not part of the shipped package.

- sandbox: a private copy of the install's artifacts to run against, the API key, feeding clips back;
- processes: local services as child processes (`make run`, the browser tests, the demo video);
- pg_local, nginx_local: a throwaway PostgreSQL server and the Compose load balancer on loopback.

Run from the project root (the tests, `make run` and `make bench` do), so `devtools` is importable.
"""
