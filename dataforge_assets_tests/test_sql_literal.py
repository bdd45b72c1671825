"""The platform's own values put into SQL read back as they were, quotes and all, in DuckDB."""

from __future__ import annotations

import duckdb

from dataforge_assets.lib.sql_literal import quoted, quoted_list


def test_quoted_text_reads_back_unchanged() -> None:
    texts = ["plain", "it's", "''", "a'b'c", "", "x; DROP TABLE t; --"]
    with duckdb.connect() as con:
        for text in texts:
            assert con.execute(f"SELECT {quoted(text)}").fetchone() == (text,)
        con.execute("CREATE TABLE t (v VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?)", [[t] for t in [*texts, "other"]])
        found = con.execute(f"SELECT v FROM t WHERE v IN ({quoted_list(texts)}) ORDER BY v").fetchall()
    assert sorted(v for (v,) in found) == sorted(texts)
