"""The clipwatch project in the Evidently UI and its dashboard panels, created on first use."""

from __future__ import annotations

PROJECT_NAME = "clipwatch"
# With K-S at p < 0.05 about 5% of components drift by chance: alert well above that floor.
DRIFT_SHARE_ALERT = 0.25
MIN_ROWS = 10  # feedback rows before a report means anything
# Shown by the Evidently UI beside the project, and by the web app beside its link: blank panels are
# the first thing a new install shows, and they are not a fault.
WHY_BLANK = (
    f"Panels stay blank until the feedback store holds {MIN_ROWS} rows: reports compare feedback with "
    "ref_data.csv. Send feedback from the web app's Classify page (or POST /feedback); reports run "
    "every few minutes and after each retrain."
)


def project(ws):
    """The clipwatch project of this workspace, made with its dashboard if it does not exist yet."""
    found = ws.search_project(PROJECT_NAME)
    if found:
        return found[0]
    project = ws.create_project(
        PROJECT_NAME, description=f"clipwatch: drift of clip embeddings, quality of feedback. {WHY_BLANK}"
    )
    panels = (_intro(), *_counters(), _drift_share(), _embedding_drift(), _quality(), _model_version(), _unfamiliar())
    for panel in panels:
        project.dashboard.add_panel(panel, tab="Overview")
    return project


def _intro():
    from evidently.sdk.panels import text_panel

    return text_panel(
        "clipwatch monitoring",
        f"Reference: ref_data.csv. Current: the feedback rows (all, and the latest window). {WHY_BLANK}",
    )


def _counters():
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import counter_panel

    rows = [PanelMetric(metric="RowCount", tags=["quality", "all"], legend="rows")]
    f1 = [PanelMetric(metric="F1Score", tags=["quality", "all"], legend="F1")]
    return counter_panel("Feedback rows", rows, size="half"), counter_panel("Macro F1 (all feedback)", f1, size="half")


def _drift_share():
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    share = {"value_type": "share"}
    return line_plot_panel(
        "Share of drifted PCA components",
        [
            PanelMetric(metric="DriftedColumnsCount", metric_labels=share, tags=["drift", "all"], legend="all rows"),
            PanelMetric(
                metric="DriftedColumnsCount", metric_labels=share, tags=["drift", "window"], legend="latest window"
            ),
        ],
        description=f"K-S p<0.05 per component; ~5% drift by chance, alert above {DRIFT_SHARE_ALERT:.0%}",
        size="half",
    )


def _embedding_drift():
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    return line_plot_panel(
        "Embedding drift score (ROC AUC)",
        [
            PanelMetric(metric="EmbeddingsDrift", tags=["drift", "all"], legend="all rows"),
            PanelMetric(metric="EmbeddingsDrift", tags=["drift", "window"], legend="latest window"),
        ],
        description="model-based; 0.5 means no drift, decided against a bootstrapped null",
        size="half",
    )


def _quality():
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    return line_plot_panel(
        "Quality on feedback",
        [
            PanelMetric(metric="F1Score", tags=["quality", "all"], legend="F1"),
            PanelMetric(metric="Recall", tags=["quality", "all"], legend="balanced accuracy (macro recall)"),
            PanelMetric(metric="Precision", tags=["quality", "all"], legend="precision"),
            PanelMetric(metric="Accuracy", tags=["quality", "all"], legend="accuracy"),
        ],
        size="half",
    )


def _model_version():
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    version = PanelMetric(
        metric="MeanValue", metric_labels={"column": "model_number"}, tags=["quality", "all"], legend="version"
    )
    return line_plot_panel("Model version", [version], size="half")


def _unfamiliar():
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    share = [
        PanelMetric(metric="MeanValue", metric_labels={"column": "unfamiliar"}, tags=["novelty", scope], legend=legend)
        for scope, legend in (("all", "all rows"), ("window", "latest window"))
    ]
    return line_plot_panel(
        "Share of unfamiliar clips",
        share,
        description="feedback rows unlike anything the live model trained on (novelty above 1)",
        size="half",
    )
