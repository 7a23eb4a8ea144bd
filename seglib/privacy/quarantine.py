"""Make a rejected raw row safe to keep: identifiers become pseudonyms, direct PII is dropped, free text is masked."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType

from seglib.privacy.keys import KeyRing
from seglib.privacy.pseudonymize import pseudonym
from seglib.privacy.text import mask_pii
from seglib.tables import RAW, Role

# Declared in the raw contract (seglib.tables): raw identifiers are pseudonymized, direct PII is dropped.
IDENTIFIER_COLUMNS = tuple(dict.fromkeys(c for t in RAW for c in t.columns_with(Role.RAW_ID)))
PII_COLUMNS = tuple(dict.fromkeys(c for t in RAW for c in t.columns_with(Role.PII)))


def pseudonymize_raw_row(df: DataFrame, table_name: str, key_ring: KeyRing) -> DataFrame:
    """Raw rows of ``table_name`` -> same rows with pseudonymized ids, PII columns dropped, strings masked.

    Every remaining string column (and every string value of a string map such as ``properties``) is passed
    through :func:`mask_pii`, not only ``text``: a rejected row may hold PII in any misplaced field.
    ``table_name`` is recorded by the caller; the rules are the same for every raw table.
    """
    lowered = {c.lower(): c for c in df.columns}
    dropped = [lowered[c] for c in PII_COLUMNS if c in lowered]
    ids = {lowered[c] for c in IDENTIFIER_COLUMNS if c in lowered}
    kept = df.drop(*dropped)
    out = []
    for field in kept.schema.fields:
        col = F.col(f"`{field.name}`")
        if field.name in ids:
            col = pseudonym(col, key_ring)
        elif isinstance(field.dataType, StringType):
            col = mask_pii(col)
        elif isinstance(field.dataType, MapType) and isinstance(field.dataType.valueType, StringType):
            # Entries keyed like a PII column ({"email": ...}) are dropped, the other values masked.
            kept_entries = F.map_filter(col, lambda k, _v: ~F.lower(k).isin(*PII_COLUMNS))
            col = F.transform_values(kept_entries, lambda _k, v: mask_pii(v))
        out.append(col.alias(field.name))
    return kept.select(*out)
