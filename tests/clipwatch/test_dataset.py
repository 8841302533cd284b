import logging
import shutil

import pytest

from clipwatch.dataset import build_reference, discover, embedding_columns, read_embeddings
from clipwatch.errors import DatasetError


def _copy_some(videos, dest, classes=("clap", "walk"), n=2):
    for c in classes:
        (dest / c).mkdir(parents=True)
        for p in sorted((videos / c).iterdir())[:n]:
            shutil.copy(p, dest / c / p.name)


def test_discover_reads_folder_per_class_and_ignores_other_files(videos, tmp_path):
    _copy_some(videos, tmp_path)
    (tmp_path / "clap" / "notes.txt").write_text("not a clip")
    (tmp_path / "clap" / ".hidden.mp4").write_bytes(b"")
    ds = discover(tmp_path)
    assert ds.classes == ["clap", "walk"]
    assert ds.counts() == {"clap": 2, "walk": 2}


def test_discover_explains_an_empty_or_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="no clips found"):
        discover(tmp_path)
    with pytest.raises(DatasetError, match="no such folder"):
        discover(tmp_path / "nope")


def test_build_skips_bad_clips_with_a_count_and_reports_small_classes(embedder, videos, tmp_path, caplog):
    src = tmp_path / "videos"
    _copy_some(videos, src)
    (src / "clap" / "broken.mp4").write_bytes(b"\x00" * 1000)
    (src / "lonely").mkdir()
    shutil.copy(next((videos / "jump").iterdir()), src / "lonely" / "one.mp4")
    out = tmp_path / "ref.csv"
    with caplog.at_level(logging.WARNING):
        report = build_reference(embedder, src, out, progress=False)
    assert report.rows == 5
    assert [p.name for p, _ in report.skipped] == ["broken.mp4"]
    assert "broken.mp4" in report.skipped[0][1]
    assert report.small_classes == {"lonely": 1}
    assert "lonely" in caplog.text
    X, y, df = read_embeddings(out)
    assert list(df.columns) == [*embedding_columns(embedder.dim), "target"]
    assert X.shape == (5, embedder.dim) and sorted(set(y)) == ["clap", "lonely", "walk"]


def test_build_that_decodes_nothing_fails_and_leaves_no_csv(embedder, tmp_path):
    (tmp_path / "v" / "a").mkdir(parents=True)
    (tmp_path / "v" / "a" / "x.mp4").write_bytes(b"nope")
    with pytest.raises(DatasetError, match="none of the 1 clips"):
        build_reference(embedder, tmp_path / "v", tmp_path / "ref.csv", progress=False)
    assert not (tmp_path / "ref.csv").exists()
    assert not list(tmp_path.glob(".ref.csv*"))


def test_read_embeddings_rejects_a_csv_without_the_contract(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="emb_1"):
        read_embeddings(bad)
