from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from pipeline.files import atomic_path, publishing, write_csv, write_spreadsheet_csv, write_text


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "out" / "scored.csv"
    write_csv(pd.DataFrame({"a": [1, 2]}), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("a\n1\n")  # half a file ...
        raise RuntimeError("killed")  # ... and the run dies
    assert target.read_bytes() == before
    assert [path.name for path in target.parent.iterdir()] == ["scored.csv"]


def test_csv_is_utf8_with_unix_line_ends(tmp_path):
    target = tmp_path / "x.csv"
    write_csv(pd.DataFrame({"name": ["Zoë"]}), target)
    assert target.read_bytes() == "name\nZoë\n".encode()


def test_outputs_get_ordinary_file_permissions(tmp_path):

    previous = os.umask(0o022)
    try:
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "x.csv")
    finally:
        os.umask(previous)
    assert (tmp_path / "x.csv").stat().st_mode & 0o777 == 0o644



def test_spreadsheet_csv_neutralises_formulas_in_text_but_keeps_negative_numbers(tmp_path):
    frame = pd.DataFrame({
        "customer_id": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "ok", "Zoë"],
        "net_spend": [-141.48, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
    })
    target = tmp_path / "list.csv"
    write_spreadsheet_csv(frame, target)
    back = pd.read_csv(target, dtype={"customer_id": "string"}, encoding="utf-8")
    assert back["customer_id"].tolist()[:4] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)"]
    assert back["customer_id"].str.startswith("'").tolist() == [True] * 6 + [False, False]
    assert back["customer_id"].iloc[7] == "Zoë"
    assert back["net_spend"].iloc[0] == -141.48


def test_a_failed_publication_leaves_the_previous_outputs_and_no_staging(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_text("old a", Path("out/a.txt"))
    write_text("old b", Path("out/b.txt"))
    with pytest.raises(RuntimeError), publishing("stage") as publication:
        write_text("new a", publication.staged(Path("out/a.txt")))
        raise RuntimeError("killed between the two outputs")
    assert (Path("out/a.txt").read_text(), Path("out/b.txt").read_text()) == ("old a", "old b")
    assert not Path(".staging").exists()
    with publishing("stage") as publication:
        for name in ("a", "b"):
            write_text(f"new {name}", publication.staged(Path(f"out/{name}.txt")))
    assert (Path("out/a.txt").read_text(), Path("out/b.txt").read_text()) == ("new a", "new b")
    assert not Path(".staging").exists()
