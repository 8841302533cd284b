"""The clipwatch project in the Evidently UI and its dashboard panels, created on first use."""

from __future__ import annotations

PROJECT_NAME = "clipwatch"
# With K-S at p < 0.05 about 5% of components drift by chance: alert well above that floor.
DRIFT_SHARE_ALERT = 0.25


def project(ws):
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import counter_panel, line_plot_panel, text_panel

    found = ws.search_project(PROJECT_NAME)
    if found:
        return found[0]
    project = ws.create_project(PROJECT_NAME, description="clipwatch: drift of clip embeddings, quality of feedback")
    d = project.dashboard
    d.add_panel(
        text_panel(
            "clipwatch monitoring", "Reference: ref_data.csv. Current: prod_data.csv (all rows and the latest window)."
        ),
        tab="Overview",
    )
    d.add_panel(
        counter_panel(
            "Feedback rows", [PanelMetric(metric="RowCount", tags=["quality", "all"], legend="rows")], size="half"
        ),
        tab="Overview",
    )
    d.add_panel(
        counter_panel(
            "Macro F1 (all feedback)",
            [PanelMetric(metric="F1Score", tags=["quality", "all"], legend="F1")],
            size="half",
        ),
        tab="Overview",
    )
    d.add_panel(
        line_plot_panel(
            "Share of drifted PCA components",
            [
                PanelMetric(
                    metric="DriftedColumnsCount",
                    metric_labels={"value_type": "share"},
                    tags=["drift", "all"],
                    legend="all rows",
                ),
                PanelMetric(
                    metric="DriftedColumnsCount",
                    metric_labels={"value_type": "share"},
                    tags=["drift", "window"],
                    legend="latest window",
                ),
            ],
            description=f"K-S p<0.05 per component; ~5% drift by chance, alert above {DRIFT_SHARE_ALERT:.0%}",
            size="half",
        ),
        tab="Overview",
    )
    d.add_panel(
        line_plot_panel(
            "Embedding drift score (ROC AUC)",
            [
                PanelMetric(metric="EmbeddingsDrift", tags=["drift", "all"], legend="all rows"),
                PanelMetric(metric="EmbeddingsDrift", tags=["drift", "window"], legend="latest window"),
            ],
            description="model-based; 0.5 means no drift, decided against a bootstrapped null",
            size="half",
        ),
        tab="Overview",
    )
    d.add_panel(
        line_plot_panel(
            "Quality on feedback",
            [
                PanelMetric(metric="F1Score", tags=["quality", "all"], legend="F1"),
                PanelMetric(metric="Recall", tags=["quality", "all"], legend="balanced accuracy (macro recall)"),
                PanelMetric(metric="Precision", tags=["quality", "all"], legend="precision"),
                PanelMetric(metric="Accuracy", tags=["quality", "all"], legend="accuracy"),
            ],
            size="half",
        ),
        tab="Overview",
    )
    d.add_panel(
        line_plot_panel(
            "Model version",
            [
                PanelMetric(
                    metric="MeanValue",
                    metric_labels={"column": "model_number"},
                    tags=["quality", "all"],
                    legend="version",
                ),
            ],
            size="half",
        ),
        tab="Overview",
    )
    return project
