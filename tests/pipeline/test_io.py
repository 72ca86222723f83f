from __future__ import annotations

import pandas as pd
import pytest

from pipeline.io import atomic_path, write_csv


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
