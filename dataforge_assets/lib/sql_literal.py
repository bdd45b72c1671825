"""Text as a SQL string literal, the same in DuckDB and PostgreSQL: for values the platform itself
puts into SQL (load ids, months' spellings, file names), never for user SQL."""

from collections.abc import Iterable


def quoted(text: str) -> str:
    """`text` as a standard SQL string literal (a quote inside is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def quoted_list(texts: Iterable[str]) -> str:
    """The texts as literals separated by commas, for `IN (...)`."""
    return ", ".join(quoted(text) for text in texts)
