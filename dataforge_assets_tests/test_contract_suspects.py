"""pandera over the suspect rows only (lib/contract_suspects.py) gives every row the verdict, rule and
reason pandera gives it over the whole batch; drift still fails; contracts it cannot mirror fall back."""

from __future__ import annotations

import math

import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataforge_assets.defs.normalized.flights import FLIGHTS
from dataforge_assets.lib.contract_suspects import split_suspects, suspect_rows
from dataforge_assets.lib.contracts import ContractViolation, Split, as_schema, split_by_contract
from dataforge_assets.lib.normalize import row_key
from dataforge_assets_tests.test_normalize_properties import AIRLINES, flights

FAST = settings(max_examples=25, deadline=None)
# Raw text that breaks a rule, a type or a nullability of the flights contract.
BREAKS = {
    "carrier": st.sampled_from(["ua", "U", "UAX", None, " UA"]),
    "origin": st.sampled_from(["ew", "EWR1X", None, "E-R"]),
    "dest": st.sampled_from(["", "JFKXX", None]),
    "distance": st.sampled_from(["0", "-3", "x", "1.5", None, " 7 "]),
    "flight": st.sampled_from(["0", "abc", None]),
    "sched_dep_time": st.sampled_from(["2400", "-1", None, "9999"]),
    "dep_delay": st.sampled_from(["99999", "-2000", "1e3"]),
    "air_time": st.sampled_from(["0", "-1"]),
}


def assert_same_verdicts(expected: Split, got: Split) -> None:
    assert got.valid_rows.to_list() == expected.valid_rows.to_list()
    assert got.rule.to_list() == expected.rule.to_list()
    assert got.reason.to_list() == expected.reason.to_list()
    assert got.failure_cases.to_dicts() == expected.failure_cases.to_dicts()


@FAST
@given(flights(), st.data())
def test_flights_verdicts_are_pandera_over_the_whole_batch(raw: pl.DataFrame, data: st.DataObject) -> None:
    broken = {}
    for column, values in BREAKS.items():
        rows = data.draw(st.sets(st.integers(0, raw.height - 1), max_size=raw.height))
        if rows:
            bad = data.draw(values)
            broken[column] = pl.Series(
                column, [bad if i in rows else v for i, v in enumerate(raw[column])], dtype=pl.String
            )
    raw = raw.with_columns(*broken.values())
    typed = FLIGHTS.transform(raw.with_columns(row_key(FLIGHTS.key)), AIRLINES)
    assert suspect_rows(typed, as_schema(FLIGHTS.contract)) is not None  # the fast path is taken
    assert_same_verdicts(
        split_by_contract("normalized.flights", typed, FLIGHTS.contract),
        split_suspects("normalized.flights", typed, FLIGHTS.contract),
    )


class Measures(pa.DataFrameModel):
    ratio: pl.Float64 = pa.Field(ge=0, le=1)
    label: pl.String = pa.Field(isin=["a", "b"], nullable=True, ignore_na=False)
    code: pl.Int64 = pa.Field(in_range={"min_value": 1, "max_value": 9})

    class Config:
        strict = True


@FAST
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(-1, 2), st.just(math.nan)),
            st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
            st.one_of(st.none(), st.integers(-2, 12)),
        ),
        max_size=30,
    )
)
def test_nan_nulls_and_checks_that_judge_nulls(rows: list[tuple]) -> None:
    typed = pl.DataFrame(
        rows, schema={"ratio": pl.Float64, "label": pl.String, "code": pl.Int64}, orient="row"
    )
    assert suspect_rows(typed, as_schema(Measures)) is not None
    assert_same_verdicts(split_by_contract("t", typed, Measures), split_suspects("t", typed, Measures))


class Unique(pa.DataFrameModel):
    code: pl.Int64 = pa.Field(unique=True)


class Custom(pa.DataFrameModel):
    code: pl.Int64 = pa.Field(ge=0)

    @pa.check("code")
    @classmethod
    def even(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) % 2 == 0)


@pytest.mark.parametrize("contract", [Unique, Custom])
def test_what_looks_across_rows_or_is_custom_is_judged_by_pandera_whole(contract: type) -> None:
    typed = pl.DataFrame({"code": [2, 2, 3, -4]})
    assert suspect_rows(typed, as_schema(contract)) is None
    assert_same_verdicts(split_by_contract("t", typed, contract), split_suspects("t", typed, contract))
    assert not split_suspects("t", typed, contract).valid_rows.all()


def test_drift_fails_loudly_even_without_suspect_rows() -> None:
    good = pl.DataFrame({"ratio": [0.5], "label": ["a"], "code": [3]})
    assert split_suspects("t", good, Measures).valid_rows.all()
    assert split_suspects("t", good, Measures).valid_rows.all()  # the schema is known now
    for drifted in (good.drop("label"), good.with_columns(pl.col("code").cast(pl.Int32))):
        with pytest.raises(ContractViolation):
            split_by_contract("t", drifted, Measures)
        with pytest.raises(ContractViolation):
            split_suspects("t", drifted, Measures)
