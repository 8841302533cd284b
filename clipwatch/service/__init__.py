"""The serving API's internals; `serving/api.py` is the entry point."""
