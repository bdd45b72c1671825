"""Referential checks of normalized.flights: every tail number a known plane, every destination a known
airport. The real data breaks both (planes lacks many tail numbers; airports lacks BQN, SJU, STT and
PSE), so these warn; they never block."""

import dagster as dg

from dataforge_assets.lib.references import check_reference
from dataforge_assets.lib.warehouse import Warehouse

FLIGHTS = dg.AssetKey(["normalized", "flights"])


@dg.asset_check(
    asset=FLIGHTS,
    name="tailnum_in_planes",
    additional_deps=[dg.AssetKey(["normalized", "planes"])],
    description="Flights whose tail number (when known) is missing from normalized.planes.",
)
def tailnum_in_planes(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.session(read_only=True):
        return check_reference(warehouse, "flights", "tailnum", "planes", "tailnum")


@dg.asset_check(
    asset=FLIGHTS,
    name="dest_in_airports",
    additional_deps=[dg.AssetKey(["normalized", "airports"])],
    description="Flights whose destination is missing from normalized.airports.",
)
def dest_in_airports(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.session(read_only=True):
        return check_reference(warehouse, "flights", "dest", "airports", "faa")
