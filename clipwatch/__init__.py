"""clipwatch: video action classification with a production loop around it."""

__version__ = "0.1.0"
