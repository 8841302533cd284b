"""Which feedback rows a model version's lineage has seen, and from which row it learns.

Feedback rows sit at positions 0..N-1 in the order they were acknowledged (clipwatch.stores). A version
records how many it could have trained on (`prod_rows_seen`), and a version deployed from a project
records where its lineage starts (`feedback_from`): older rows named the actions it replaced.
"""

from __future__ import annotations


def rows_seen(champion_training: dict, n_prod: int) -> int:
    """How many leading prod rows the champion could have trained on (prod_data.csv is append-only)."""
    if "prod_rows_seen" in champion_training:
        seen = int(champion_training["prod_rows_seen"])
    else:  # versions published before prod_rows_seen was recorded
        seen = int(champion_training.get("rows_prod", 0)) + int(champion_training.get("rows_holdout", 0))
    return seen if seen <= n_prod else 0  # prod_data.csv was replaced: every row is new to the champion


def feedback_start(champion_training: dict, n_prod: int) -> int:
    """The first feedback row the champion's lineage learns from (0 unless a project deploy set it)."""
    start = int(champion_training.get("feedback_from", 0))
    return start if start <= n_prod else 0  # the store was replaced: every row is the lineage's
