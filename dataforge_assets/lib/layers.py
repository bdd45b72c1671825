"""The warehouse's layers (schemas) and the bookkeeping columns every layer shares, named once."""

RAW = "raw"
NORMALIZED = "normalized"
QUARANTINE = "quarantine"
LOAD_ID = "_dlt_load_id"  # dlt stamps every raw row with its load
ROW_KEY = "_row_key"  # how a re-delivered row finds its earlier version (normalize.row_key)
