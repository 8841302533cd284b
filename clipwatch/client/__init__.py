"""Clients of a running serving API: the HTTP client, the folder scorer (`clipwatch score`) and the
traffic simulator (`clipwatch simulate`). Nothing here loads a model."""
