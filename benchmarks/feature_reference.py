"""seglib's per-subject feature table restated in DuckDB SQL, and a value-by-value diff against seglib's output.

The SQL is written from the definitions in docs/data_dictionary.md, docs/tables.md and conf/features.yaml, not from
seglib/features, so that agreement means both sides implement the documented definitions. Conventions:

- time is compared as epoch microseconds (zone-free); the cut-off is ``as_of`` 00:00 UTC and only rows strictly
  before it count; events are read over ``lookback_days`` before the cut-off;
- a w-day window is ``[cut-off - w days, cut-off)``;
- subjects: those whose latest ``analytics`` consent is granted (silver consents) and who appear in silver events
  (lookback), orders or texts (before the cut-off) or customers (signed up before ``as_of``);
- the silver tables are read as plain Parquet written by :func:`export_silver_parquet`.

Columns seglib derives from approximate quantiles are computed here with exact quantiles and reported apart
(``APPROXIMATE_COLUMNS``); free-text columns are out of scope (``TEXT_COLUMNS``).

``python -m benchmarks.feature_reference <warehouse> <as_of YYYY-MM-DD> <workdir>`` exports the silver tables,
times the DuckDB query (2 threads) and prints the mismatches per column against ``features/subject_features``.
"""

from __future__ import annotations

import calendar
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

SILVER_TABLES = ("events", "orders", "customers", "consents")
# Texts only decide who is a subject (text-only subjects have a row): their free text is never exported.
TEXT_KEY_COLUMNS = ("subject_id", "created_at")
MICROS_PER_DAY = 86_400 * 1_000_000
MICROS_PER_HOUR = 3_600 * 1_000_000
RFM_WINDOWS = (30, 90, 365)
# (column, event_type) of the 90-day event-type counts.
EVENT_COUNTS = (
    ("page_views_90d", "page_view"),
    ("email_opens_90d", "email_open"),
    ("email_clicks_90d", "email_click"),
    ("product_views_90d", "product_view"),
    ("searches_90d", "search"),
    ("support_tickets_90d", "support_ticket"),
    ("feature_uses_90d", "feature_use"),
)
# (name, first hour, end hour) of the UTC dayparts.
DAYPARTS = (("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))
CRM_COLUMNS = ("age_band", "gender", "income_band", "company_size_band", "industry", "plan", "region", "is_b2b")
APPROXIMATE_COLUMNS = ("r_score", "f_score", "m_score", "rfm_cell", "rfm_score", "engagement_index")
INTERESTS = ("sports", "technology", "travel", "fashion", "food", "finance", "home", "family")
TEXT_COLUMNS = ("text_count", "sentiment_score", *[f"interest_{i}" for i in INTERESTS])
# Configurable interest names and the optional LDA mixture (topic_0..k-1) are text columns too.
TEXT_PREFIXES = ("interest_", "topic_")
ONLY_SEGLIB = "(rows only in seglib)"
ONLY_REFERENCE = "(rows only in reference)"
CONFIG = str(Path(__file__).resolve().parent.parent / "conf" / "local.yaml")  # the config the table was built with
USAGE = "python -m benchmarks.feature_reference <warehouse> <as_of YYYY-MM-DD> <workdir>"
REL_TOLERANCE = 1e-9
ABS_TOLERANCE = 1e-12


@dataclass(frozen=True)
class ReferenceParams:
    """The features config as plain values (from a ``FeaturesConfig``: the reference never reads seglib's defaults
    from its own copy), plus privacy.required_consent."""

    required_consent: str
    lookback_days: int
    score_bins: int
    rfm_weights: tuple[float, float, float]
    categories: tuple[str, ...]
    index_weights: Mapping[str, float]
    index_quantile: float
    cart_window_hours: int
    onboarding_window_days: int
    devices: tuple[str, ...]
    channels: tuple[str, ...]
    clv_edges: tuple[float, ...]
    clv_labels: tuple[str, ...]
    # Subjects with texts only have a row when the text group is on (features.psychographics.enabled).
    text_subjects: bool

    @classmethod
    def from_config(cls, features: Any, required_consent: str = "analytics") -> ReferenceParams:
        """Plain values of a ``seglib.config.FeaturesConfig`` (only its settings are read, never its code)."""
        rfm, eng, beh, ctx, life = (
            features.rfm,
            features.engagement,
            features.behaviour,
            features.context,
            features.lifetime,
        )
        return cls(
            required_consent=required_consent,
            lookback_days=features.lookback_days,
            score_bins=rfm.score_bins,
            rfm_weights=(rfm.recency_weight, rfm.frequency_weight, rfm.monetary_weight),
            categories=tuple(eng.categories),
            index_weights=dict(eng.index_weights),
            index_quantile=eng.index_normalisation_quantile,
            cart_window_hours=beh.cart_window_hours,
            onboarding_window_days=beh.onboarding_window_days,
            devices=tuple(ctx.devices),
            channels=tuple(ctx.channels),
            clv_edges=tuple(life.clv_bracket_edges),
            clv_labels=tuple(life.clv_bracket_labels),
            text_subjects=features.psychographics.enabled,
        )


def export_silver_parquet(spark: SparkSession, warehouse_path: str, out_dir: str) -> None:
    """Write silver events, orders, customers and consents (Delta) to plain Parquet folders under ``out_dir``, and
    ``texts`` reduced to subject_id and created_at."""
    for name in SILVER_TABLES:
        table = spark.read.format("delta").load(f"{warehouse_path}/silver/{name}")
        table.write.mode("overwrite").parquet(f"{out_dir}/{name}")
    texts = spark.read.format("delta").load(f"{warehouse_path}/silver/texts").select(*TEXT_KEY_COLUMNS)
    texts.write.mode("overwrite").parquet(f"{out_dir}/texts")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _share(condition: str, denominator: str) -> str:
    """count(condition) / denominator as a double, null when the denominator is 0."""
    return f"CAST(count(*) FILTER (WHERE {condition}) AS DOUBLE) / nullif({denominator}, 0)"


def _score(value: str, cuts: str, descending: bool) -> str:
    """1 + the cut points (list ``cuts``) the value beats: is above, or below for recency (lower is better).
    A value equal to a cut point does not beat it (the dictionary leaves ties open; seglib resolves them so)."""
    op = ">" if descending else "<"
    return f"(1 + len(list_filter({cuts}, lambda q: q {op} {value})))"


def duckdb_features_sql(parquet_dir: str, as_of: date, output_path: str, params: ReferenceParams) -> str:
    """``COPY (one row per consenting subject, every non-text feature column) TO output_path`` in DuckDB SQL."""
    p = params
    as_of_day = calendar.timegm(as_of.timetuple()) // 86_400
    cut = as_of_day * MICROS_PER_DAY

    def since(days: int) -> int:
        return cut - days * MICROS_PER_DAY

    def src(name: str) -> str:
        return f"read_parquet('{parquet_dir}/{name}/*.parquet')"

    order_aggs = []
    for w in RFM_WINDOWS:
        order_aggs.append(f"count(*) FILTER (WHERE completed AND ts >= {since(w)}) AS frequency_{w}d")
        # Sum the decimals exactly, then cast once (as the dictionary says).
        order_aggs.append(f"CAST(coalesce(sum(net) FILTER (WHERE ts >= {since(w)}), 0) AS DOUBLE) AS monetary_{w}d")
    in90 = f"ts >= {since(90)}"
    event_aggs = [
        f"count(*) FILTER (WHERE {in90}) AS events_90d",
        f"count(DISTINCT session_id) FILTER (WHERE {in90}) AS sessions_90d",
        *[f"count(*) FILTER (WHERE {in90} AND event_type = {_quote(t)}) AS {c}" for c, t in EVENT_COUNTS],
        f"max(ts) FILTER (WHERE {in90}) - min(ts) FILTER (WHERE {in90}) AS span_90d_us",
        f"count(*) FILTER (WHERE ts >= {since(30)}) AS events_last_30d",
        f"count(*) FILTER (WHERE ts >= {since(60)} AND ts < {since(30)}) AS events_prev_30d",
        f"count(*) FILTER (WHERE {in90} AND content_category IS NOT NULL) AS categorised_90d",
        *[
            f"count(*) FILTER (WHERE {in90} AND content_category = {_quote(c)}) AS cat_{i}"
            for i, c in enumerate(p.categories)
        ],
        *[
            f"{_share(f'{in90} AND device = {_quote(d)}', f'count(*) FILTER (WHERE {in90})')} AS device_share_{d}"
            for d in p.devices
        ],
        *[
            f"{_share(f'{in90} AND channel = {_quote(c)}', f'count(*) FILTER (WHERE {in90})')} AS channel_share_{c}"
            for c in p.channels
        ],
        *[
            f"{_share(f'{in90} AND hour >= {lo} AND hour < {hi}', f'count(*) FILTER (WHERE {in90})')}"
            f" AS daypart_share_{name}"
            for name, lo, hi in DAYPARTS
        ],
        # 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
        f"{_share(f'{in90} AND (day + 3) % 7 < 5', f'count(*) FILTER (WHERE {in90})')} AS weekday_share",
        "min(day) AS first_event_day",
    ]
    weights = p.index_weights
    weight_sum = sum(weights.values())
    index_terms = " + ".join(
        f"{w!r} * CASE WHEN q.q_{c} > 0 THEN least(coalesce(b.{c}, 0) / q.q_{c}, 1.0) ELSE 0.0 END"
        for c, w in weights.items()
    )
    index_quantiles = ", ".join(f"quantile_disc(coalesce({c}, 0), {p.index_quantile!r}) AS q_{c}" for c in weights)
    probs = "[" + ", ".join(repr(i / p.score_bins) for i in range(1, p.score_bins)) + "]"
    rw, fw, mw = p.rfm_weights
    clv_case = (
        "CASE "
        + " ".join(
            f"WHEN clv_historical <= {e!r} THEN {_quote(lbl)}"
            for e, lbl in zip(p.clv_edges, p.clv_labels[:-1], strict=True)
        )
        + f" ELSE {_quote(p.clv_labels[-1])} END"
    )
    affinities = ", ".join(
        f"coalesce(CAST(e.cat_{i} AS DOUBLE) / nullif(e.categorised_90d, 0), 0.0) AS affinity_{c}"
        for i, c in enumerate(p.categories)
    )
    shares = ", ".join(
        [f"e.device_share_{d}" for d in p.devices]
        + [f"e.channel_share_{c}" for c in p.channels]
        + [f"e.daypart_share_{n}" for n, _, _ in DAYPARTS]
        + ["e.weekday_share"]
    )
    counts = ", ".join(f"coalesce(e.{c}, 0) AS {c}" for c, _ in EVENT_COUNTS)
    crm = ", ".join(f"c.{col}" for col in CRM_COLUMNS)
    cart_types = "('add_to_cart', 'checkout')"
    cart_us = p.cart_window_hours * MICROS_PER_HOUR
    onboard_us = p.onboarding_window_days * MICROS_PER_DAY
    return f"""
COPY (
  WITH consenting AS (
    SELECT DISTINCT subject_id FROM {src("consents")} WHERE "{p.required_consent}" AND subject_id IS NOT NULL
  ),
  ev AS (
    SELECT e.subject_id, epoch_us(e.event_ts) AS ts, epoch_us(e.event_ts) // {MICROS_PER_DAY} AS day,
           (epoch_us(e.event_ts) % {MICROS_PER_DAY}) // {MICROS_PER_HOUR} AS hour,
           e.event_type, e.session_id, e.device, e.channel, e.country, e.content_category
    FROM {src("events")} e SEMI JOIN consenting USING (subject_id)
    WHERE epoch_us(e.event_ts) >= {since(p.lookback_days)} AND epoch_us(e.event_ts) < {cut}
  ),
  ord AS (
    SELECT o.subject_id, epoch_us(o.order_ts) AS ts, o.status = 'completed' AS completed,
           coalesce(o.net_amount, 0) AS net
    FROM {src("orders")} o SEMI JOIN consenting USING (subject_id)
    WHERE epoch_us(o.order_ts) < {cut}
  ),
  -- A customer exists at the snapshot if it signed up before it (the row itself is the current CRM state);
  -- without a signup date, if its state was written before the cut-off.
  cust AS (
    SELECT c.* FROM {src("customers")} c SEMI JOIN consenting USING (subject_id)
    WHERE coalesce(c.signup_date < DATE '{as_of.isoformat()}', epoch_us(c.updated_at) < {cut}, true)
  ),
  text_subjects AS (
    SELECT DISTINCT t.subject_id FROM {src("texts")} t SEMI JOIN consenting USING (subject_id)
    WHERE epoch_us(t.created_at) < {cut}
  ),
  subjects AS (
    SELECT subject_id FROM ev UNION SELECT subject_id FROM ord UNION SELECT subject_id FROM cust
    {"UNION SELECT subject_id FROM text_subjects" if p.text_subjects else ""}
  ),
  ord_agg AS (
    SELECT subject_id,
           CAST({as_of_day} - max(ts // {MICROS_PER_DAY}) FILTER (WHERE completed) AS INTEGER) AS recency_days,
           {", ".join(order_aggs)},
           CAST(coalesce(sum(net), 0) AS DOUBLE) AS clv_historical,
           min(ts // {MICROS_PER_DAY}) AS first_order_day
    FROM ord GROUP BY subject_id
  ),
  ev_agg AS (
    SELECT subject_id, {", ".join(event_aggs)} FROM ev GROUP BY subject_id
  ),
  country_counts AS (
    SELECT subject_id, country, count(*) AS n FROM ev WHERE country IS NOT NULL GROUP BY ALL
  ),
  -- Ties between equally frequent countries go to the alphabetically first (the dictionary leaves them open).
  ev_country AS (
    SELECT subject_id, country FROM country_counts
    QUALIFY row_number() OVER (PARTITION BY subject_id ORDER BY n DESC, country) = 1
  ),
  -- A cart counts once its window [ts, ts + window] has closed strictly before the cut-off: a purchase at the
  -- cut-off instant itself is not visible (only rows strictly before it are).
  carts AS (
    SELECT subject_id, ts FROM ev
    WHERE event_type IN {cart_types} AND ts >= {since(90)} AND ts + {cart_us} < {cut}
  ),
  purchases AS (SELECT subject_id, ts FROM ev WHERE event_type = 'purchase'),
  -- The first purchase at or after each cart event decides whether it was abandoned.
  cart_agg AS (
    SELECT c.subject_id,
           avg(CASE WHEN p.ts IS NULL OR p.ts > c.ts + {cart_us} THEN 1.0 ELSE 0.0 END) AS cart_abandonment_rate_90d
    FROM carts c ASOF LEFT JOIN purchases p ON c.subject_id = p.subject_id AND p.ts >= c.ts
    GROUP BY c.subject_id
  ),
  signups AS (SELECT subject_id, ts FROM ev WHERE event_type = 'signup'),
  activations AS (SELECT subject_id, ts FROM ev WHERE event_type IN ('feature_use', 'purchase')),
  onboard_agg AS (
    SELECT s.subject_id,
           max(CASE WHEN a.ts IS NOT NULL AND a.ts <= s.ts + {onboard_us} THEN 1 ELSE 0 END) AS onboarded
    FROM signups s ASOF LEFT JOIN activations a ON s.subject_id = a.subject_id AND a.ts >= s.ts
    GROUP BY s.subject_id
  ),
  base AS (
    SELECT s.subject_id,
           DATE '{as_of.isoformat()}' AS snapshot_date,
           o.recency_days,
           {", ".join(f"coalesce(o.frequency_{w}d, 0) AS frequency_{w}d" for w in RFM_WINDOWS)},
           {", ".join(f"coalesce(o.monetary_{w}d, 0.0) AS monetary_{w}d" for w in RFM_WINDOWS)},
           CASE WHEN o.frequency_365d > 0 THEN o.monetary_365d / o.frequency_365d END AS aov_365d,
           CAST({as_of_day} - least(
               epoch_us(CAST(c.signup_date AS TIMESTAMP)) // {MICROS_PER_DAY}, o.first_order_day, e.first_event_day
           ) AS INTEGER) AS tenure_days,
           coalesce(o.clv_historical, 0.0) AS clv_historical,
           coalesce(e.events_90d, 0) AS events_90d,
           coalesce(e.sessions_90d, 0) AS sessions_90d,
           {counts},
           CASE WHEN e.sessions_90d >= 2
                THEN e.span_90d_us / {MICROS_PER_DAY}.0 / (e.sessions_90d - 1) END AS avg_days_between_sessions_90d,
           coalesce(e.email_opens_90d, 0) * 7.0 / 90 AS email_open_rate_90d,
           CASE WHEN e.email_opens_90d > 0
                THEN least(CAST(e.email_clicks_90d AS DOUBLE) / e.email_opens_90d, 1.0) END AS email_click_rate_90d,
           CASE WHEN coalesce(e.events_last_30d, 0) + coalesce(e.events_prev_30d, 0) = 0 THEN 0.0
                ELSE CAST(e.events_last_30d - e.events_prev_30d AS DOUBLE) / (e.events_last_30d + e.events_prev_30d)
           END AS engagement_trend,
           {affinities},
           CAST(ob.onboarded AS INTEGER) AS onboarding_completed,
           ca.cart_abandonment_rate_90d,
           CAST(e.product_views_90d AS DOUBLE) / nullif(e.sessions_90d, 0) AS browse_depth_90d,
           CAST(e.searches_90d AS DOUBLE) / nullif(e.sessions_90d, 0) AS searches_per_session_90d,
           coalesce(e.feature_uses_90d, 0) * 7.0 / 90 AS feature_uses_per_week_90d,
           {shares},
           coalesce(c.country, ec.country) AS country,
           {crm}
    FROM subjects s
    LEFT JOIN ord_agg o USING (subject_id)
    LEFT JOIN ev_agg e USING (subject_id)
    LEFT JOIN cust c USING (subject_id)
    LEFT JOIN ev_country ec USING (subject_id)
    LEFT JOIN cart_agg ca USING (subject_id)
    LEFT JOIN onboard_agg ob USING (subject_id)
  ),
  -- Exact quantiles here; seglib uses approxQuantile (these columns are in APPROXIMATE_COLUMNS).
  rfm_cuts AS (
    SELECT quantile_disc(recency_days, {probs}) AS r_cuts,
           quantile_disc(frequency_365d, {probs}) AS f_cuts,
           quantile_disc(monetary_365d, {probs}) AS m_cuts
    FROM base WHERE recency_days IS NOT NULL
  ),
  index_q AS (SELECT {index_quantiles} FROM base),
  scored AS (
    SELECT b.*,
           CASE WHEN b.recency_days IS NULL THEN 1
                ELSE {_score("b.recency_days", "r.r_cuts", descending=True)} END AS r_score,
           CASE WHEN b.recency_days IS NULL THEN 1
                ELSE {_score("b.frequency_365d", "r.f_cuts", descending=False)} END AS f_score,
           {_score("b.monetary_365d", "r.m_cuts", descending=False)} AS m_score,
           ({index_terms}) / {weight_sum!r} AS engagement_index
    FROM base b CROSS JOIN rfm_cuts r CROSS JOIN index_q q
  )
  SELECT * EXCLUDE (r_score, f_score, m_score),
         CAST(r_score AS INTEGER) AS r_score, CAST(f_score AS INTEGER) AS f_score, CAST(m_score AS INTEGER) AS m_score,
         concat(r_score, f_score, m_score) AS rfm_cell,
         CAST({rw!r} * r_score + {fw!r} * f_score + {mw!r} * m_score AS DOUBLE) AS rfm_score,
         {clv_case} AS clv_bracket
  FROM scored
) TO '{output_path}' (FORMAT parquet)
"""


def run_duckdb_features(
    parquet_dir: str, as_of: date, output_path: str, threads: int, params: ReferenceParams
) -> float:
    """Run the reference query in a fresh in-memory DuckDB with ``threads`` threads; returns its seconds."""
    import duckdb

    sql = duckdb_features_sql(parquet_dir, as_of, output_path, params)
    with duckdb.connect() as con:
        con.execute(f"SET threads = {int(threads)}")
        start = time.perf_counter()
        con.execute(sql)
        return round(time.perf_counter() - start, 3)


def is_text_column(name: str) -> bool:
    """Free-text (psychographic) columns, out of the reference's scope."""
    return name in TEXT_COLUMNS or name.startswith(TEXT_PREFIXES)


def comparable_columns(seglib_df: DataFrame) -> list[str]:
    """seglib's columns except the key and the text columns (one missing from the reference then shows as a
    mismatch on every row)."""
    return [c for c in seglib_df.columns if c != "subject_id" and not is_text_column(c)]


def split_mismatches(result: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """``compare_features``' result in three parts: ``exact`` columns (must be 0), ``approximate`` columns
    (approxQuantile in seglib) and ``rows`` present on one side only."""
    rows = {k: v for k, v in result.items() if k in (ONLY_SEGLIB, ONLY_REFERENCE)}
    columns = {k: v for k, v in result.items() if k not in rows}
    return {
        "exact": {k: v for k, v in columns.items() if k not in APPROXIMATE_COLUMNS},
        "approximate": {k: v for k, v in columns.items() if k in APPROXIMATE_COLUMNS},
        "rows": rows,
    }


def _differs(a: Column, b: Column, is_float: bool) -> Column:
    """True when the two values disagree: null == null; floats within REL_TOLERANCE (ABS_TOLERANCE near 0)."""
    from pyspark.sql import functions as F

    if not is_float:
        return ~a.eqNullSafe(b)
    a, b = a.cast("double"), b.cast("double")
    both_nan = F.isnan(a) & F.isnan(b)
    close = F.abs(a - b) <= F.greatest(F.lit(ABS_TOLERANCE), F.lit(REL_TOLERANCE) * F.greatest(F.abs(a), F.abs(b)))
    agree = (a.isNull() & b.isNull()) | F.coalesce(both_nan | close, F.lit(False))
    return ~agree


def compare_features(
    spark: SparkSession, seglib_df: DataFrame, reference_parquet_path: str, columns: Sequence[str]
) -> dict[str, int]:
    """Mismatching rows per column over the full outer join on subject_id (one Spark aggregation), plus the rows
    present on one side only under ``ONLY_SEGLIB`` / ``ONLY_REFERENCE``. A column absent from the reference counts
    every joined row as a mismatch."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType, DoubleType, FloatType

    reference = spark.read.parquet(reference_parquet_path)
    types = {f.name: f.dataType for f in seglib_df.schema.fields}
    present = [c for c in columns if c in reference.columns]
    left = seglib_df.select("subject_id", *[F.col(c).alias(f"s_{c}") for c in columns], F.lit(1).alias("_s"))
    right = reference.select("subject_id", *[F.col(c).alias(f"d_{c}") for c in present], F.lit(1).alias("_d"))
    joined = left.join(right, "subject_id", "full_outer")
    both = F.col("_s").isNotNull() & F.col("_d").isNotNull()

    def count_if(cond: Column) -> Column:
        return F.sum(F.when(cond, 1).otherwise(0)).cast("long")

    aggs = [
        count_if(F.col("_d").isNull()).alias("only_seglib"),
        count_if(F.col("_s").isNull()).alias("only_reference"),
    ]
    for i, c in enumerate(columns):
        if c in present:
            is_float = isinstance(types.get(c), (DoubleType, FloatType, DecimalType))
            cond = _differs(F.col(f"s_{c}"), F.col(f"d_{c}"), is_float)
        else:
            cond = F.lit(True)
        aggs.append(count_if(both & cond).alias(f"c{i}"))
    row = joined.agg(*aggs).first()
    assert row is not None
    result = {c: int(row[f"c{i}"] or 0) for i, c in enumerate(columns)}
    result[ONLY_SEGLIB] = int(row["only_seglib"] or 0)
    result[ONLY_REFERENCE] = int(row["only_reference"] or 0)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Export, run DuckDB (2 threads, timed), compare with seglib's snapshot and print the mismatches."""
    from pyspark.sql import functions as F

    from seglib.config import SparkSettings, load_config
    from seglib.session import build_spark

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print(f"usage: {USAGE}", file=sys.stderr)
        return 2
    warehouse, as_of, workdir = args[0], date.fromisoformat(args[1]), args[2]
    parquet_dir, output = f"{workdir}/silver_parquet", f"{workdir}/features_duckdb.parquet"
    settings = SparkSettings(home="local", master="local[2]", shuffle_partitions=4, driver_memory="4g")
    spark = build_spark(settings, app_name="seglib-feature-reference", warehouse_dir=warehouse)
    try:
        export_silver_parquet(spark, warehouse, parquet_dir)
        cfg = load_config([CONFIG], [f"warehouse.path={warehouse}"])
        params = ReferenceParams.from_config(cfg.features, cfg.privacy.required_consent)
        seconds = run_duckdb_features(parquet_dir, as_of, output, 2, params)
        seglib_df = (
            spark.read.format("delta")
            .load(f"{warehouse}/features/subject_features")
            .where(F.col("snapshot_date") == F.lit(as_of))
        )
        result = compare_features(spark, seglib_df, output, comparable_columns(seglib_df))
        seglib_rows, reference_rows = seglib_df.count(), spark.read.parquet(output).count()
    finally:
        spark.stop()
    parts = split_mismatches(result)
    print(f"duckdb_seconds: {seconds}  rows: seglib {seglib_rows}, reference {reference_rows}")
    for name, counts in parts.items():
        print(f"{name}:")
        for column, n in counts.items():
            print(f"  {column}: {n}")
    bad = sum(parts["exact"].values()) + sum(parts["rows"].values())
    print(f"exact-column mismatches + one-side rows: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
