"""The `clipwatch` command line: `main` is the console script, `app` the Typer application.

main holds the app and the short commands; evaluate, feedback (trainer, export-prod), timeline and
watch hold the longer ones, registered on the app in main.
"""

from clipwatch.cli.main import app, main

__all__ = ["app", "main"]
