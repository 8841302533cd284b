"""The settings of the feedback -> retrain loop: what starts a retrain, who runs it, what it fits on and what
promotes its result. A part of the one settings object (clipwatch.settings.Settings inherits them), kept
apart only to keep that module readable; the environment sets them the same way (CLIPWATCH_* or the
names noted)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode


class RetrainSettings(BaseSettings):
    # Retraining
    retrain_every_k: int = Field(
        20,
        ge=0,
        validation_alias=AliasChoices("RETRAIN_EVERY_K", "CLIPWATCH_RETRAIN_EVERY_K"),
        description="feedback rows between retrains (0: never)",
    )
    retrain_triggers: Annotated[list[Literal["rows", "drift", "performance"]], NoDecode] = Field(
        default_factory=lambda: ["rows"],
        validation_alias=AliasChoices("RETRAIN_TRIGGERS", "CLIPWATCH_RETRAIN_TRIGGERS"),
        description="what starts a retrain, comma-separated: rows (every k), drift, performance (clipwatch.triggers)",
    )
    retrain_min_interval_s: float = Field(
        900, ge=0, description="a drift or performance retrain waits this long after the previous retrain started"
    )
    trigger_check_s: float = Field(30, gt=0, description="how often the drift and performance triggers are checked")
    retrain_f1_window: int = Field(50, ge=4, description="performance trigger: latest feedback rows scored")
    retrain_min_f1: float = Field(
        0.5, ge=0, le=1, description="performance trigger: fire when macro F1 on the window falls below this"
    )
    retrain_f1_drop: float = Field(
        0.15, ge=0, le=1, description="performance trigger: or below the live model's own macro F1 by more than this"
    )

    @field_validator("retrain_triggers", mode="before")
    @classmethod
    def _comma_list(cls, value):
        if isinstance(value, str):
            value = value.strip()
            return json.loads(value) if value.startswith("[") else [v.strip() for v in value.split(",") if v.strip()]
        return value

    trainer: Literal["thread", "external"] = Field(
        "thread",
        description="thread: each API process runs retrains itself (one machine); external: only "
        "`clipwatch trainer` does, and the API processes only serve and record",
    )
    trainer_poll_s: float = Field(1.0, gt=0, description="how often `clipwatch trainer` looks at the feedback count")
    trainer_metrics_port: int = Field(8085, ge=0, le=65535, description="`clipwatch trainer`'s /metrics (0: none)")
    retrain_max_rows: int = Field(
        10_000,
        ge=100,
        description="feedback rows a retrain fits on at most: every row newer than the champion (the newest, "
        "if even those are more), then a uniform sample of the older ones",
    )
    report_max_rows: int = Field(
        5000, ge=100, description="feedback rows the 'all rows' reports read at most (a uniform sample beyond)"
    )

    promotion_policy: Literal["if_better", "always"] = Field(
        "if_better",
        validation_alias=AliasChoices("PROMOTION_POLICY", "CLIPWATCH_PROMOTION_POLICY"),
        description="if_better: a challenger goes live only if it beats the champion and holds on the guard set; "
        "always: every retrain goes live",
    )
    retrain_mode: Literal["scratch", "warm_start"] = Field(
        "scratch",
        validation_alias=AliasChoices("RETRAIN_MODE", "CLIPWATCH_RETRAIN_MODE"),
        description="scratch: refit on every row; warm_start: add trees to the champion (random forest)",
    )
    eval_folds: int = Field(
        4, ge=2, description="cross-fitting folds over the feedback rows newer than the champion, to compare models"
    )
    warm_start_trees: int = Field(100, ge=1, description="trees added to the champion in warm_start mode")
    guard_fraction: float = Field(
        0.15, ge=0, lt=0.5, description="share of ref_data.csv kept out of every fit, to score every version on"
    )
    guard_tolerance: float = Field(
        0.05, ge=0, le=1, description="macro F1 a challenger may lose to the champion on the guard set (if_better)"
    )
