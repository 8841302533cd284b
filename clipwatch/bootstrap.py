"""Build whatever is missing, in dependency order; do nothing for what exists."""

from __future__ import annotations

from collections.abc import Callable

from clipwatch.artifacts import ArtifactStore, check_compatible
from clipwatch.contract import check_table
from clipwatch.dataset import embedding_width
from clipwatch.paths import Paths
from clipwatch.secrets import ensure_secrets
from clipwatch.settings import Settings, get_settings


def ensure_all(
    settings: Settings | None = None,
    *,
    per_class: int = 40,
    echo: Callable[[str], None] = print,
    secret_files: bool = True,
    sign_existing: bool = False,
) -> None:
    s = settings or get_settings()
    paths = Paths.from_settings(s)
    store = ArtifactStore(paths)

    secrets = ensure_secrets(s.secrets_path) if secret_files else {}
    for name, (path, how) in secrets.items():
        # The value is never printed: whoever may use it can read the file.
        echo(
            f"secret: {name} {how}, in {path}" + (" (readable by its owner only)" if name != "grafana_password" else "")
        )
    # The first model key of an install that already has versions (an upgrade): they were written by this
    # install before signing existed, so they are trusted once and signed. Later, only on request.
    first_key = secrets.get("model_key", (None, ""))[1] == "generated"
    if (sign_existing or first_key) and store.versions():
        signed = store.sign_unsigned()
        if signed:
            echo(f"model: signed {len(signed)} version(s) published before signing ({', '.join(signed)})")

    if paths.backbone.is_file():
        echo(f"backbone: {paths.backbone} exists")
    else:
        from clipwatch.export import export_backbone  # torch is needed only here

        report = export_backbone(paths.backbone, size=s.input_size)
        echo(f"backbone: exported {paths.backbone} (max |onnx - torch| {report.max_abs_diff:.1e})")

    if paths.videos.is_dir() and any(paths.videos.iterdir()):
        echo(f"dataset: {paths.videos} exists")
    else:
        from clipwatch.synth import generate_dataset

        clips = generate_dataset(paths.videos, per_class=per_class, seed=s.seed)
        echo(f"dataset: rendered {len(clips)} clips into {paths.videos}")

    from clipwatch.embedding import ClipEmbedder

    embedder = ClipEmbedder.from_settings(s)
    built_ref = False
    if paths.ref_data.is_file():
        # Built under other settings (K, pooling, ...): say so and stop, rather than serve a silent mix.
        check_table(paths.ref_data, embedder.contract(), embedding_width(paths.ref_data))
        echo(f"reference: {paths.ref_data} exists")
    else:
        from clipwatch.dataset import build_reference

        report = build_reference(embedder, paths.videos, paths.ref_data)
        built_ref = True
        echo(f"reference: {report.rows} rows in {paths.ref_data} ({len(report.skipped)} clips skipped)")

    current = store.current_name()
    if current and not built_ref:
        check_compatible({**store.metadata(current), "version": current}, embedder.contract())
        echo(f"model: {current} is current")
    else:
        from clipwatch.train import train

        version, meta = train(s)
        guard = meta["metrics"].get("guard")
        echo(
            f"model: trained {version}, CV macro F1 {meta['metrics']['macro_f1']:.3f}"
            + (f", guard set macro F1 {guard['macro_f1']:.3f}" if guard else "")
        )
