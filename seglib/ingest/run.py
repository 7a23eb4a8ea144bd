"""The ingest orchestrator: raw increments -> validation -> quarantine -> de-dup -> pseudonymous silver upserts.

Row accounting (asserted every run, per raw table): ``read = accepted + quarantined + duplicates`` where
``duplicates`` are valid rows collapsed by de-duplication (re-delivered event/text ids, superseded CRM versions,
order states and consent decisions) — counted, never quarantined.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import merge_upsert, read_table, table_exists, write_table
from seglib.errors import MissingInputError
from seglib.ingest.bookmarks import RawBatch, load_bookmarks, read_raw_batch, save_bookmarks
from seglib.ingest.contract import (
    RAW_COLUMN,
    conform_to_contract,
    contract_columns,
    contract_schema,
    type_rule_sql,
)
from seglib.ingest.dedup import DEDUP_KEYS, ORDER_STATUS_RANK_SQL, id_key, repeated_keys
from seglib.ingest.metrics import (
    TableCounts,
    batch_counts,
    freshness_seconds,
    metric_rows,
    metrics_dict,
    write_dq_metrics,
)
from seglib.ingest.quarantine import quarantine_rows, write_quarantine
from seglib.ingest.rules import REASONS, Rule, compile_rules, currency_rule, is_valid, with_rule_failures
from seglib.ingest.silver import (
    HISTORY_ATTRIBUTES,
    HISTORY_KEYS,
    customer_states,
    rekeyed,
    scd2_history,
    silver_consents,
    silver_customers,
    silver_events,
    silver_orders,
    silver_texts,
)
from seglib.privacy.identity import build_identity_links
from seglib.privacy.keys import load_key_ring
from seglib.privacy.rekey import refuse_mixed_keys
from seglib.tables import RAW_INPUTS, Warehouse, table

log = logging.getLogger(__name__)

# The silver table each raw table feeds (events also feed silver identity_map).
SILVER_OF = {
    "raw_events": "events",
    "raw_crm_customers": "customers",
    "raw_orders": "orders",
    "raw_consents": "consents",
    "raw_texts": "texts",
}

# Identity-map upsert condition: a stored link is replaced only by an earlier one, so the first link wins across runs.
FIRST_LINK_WINS = "s.first_linked_ts < t.first_linked_ts"
_ORDER_NEWER = (
    "s.order_ts > t.order_ts OR (s.order_ts = t.order_ts AND "
    + ORDER_STATUS_RANK_SQL.format(col="s.status")
    + " >= "
    + ORDER_STATUS_RANK_SQL.format(col="t.status")
    + ")"
)


@dataclass
class IngestReport:
    """What one ingest run did: per raw table counts, DQ metrics (flat, MLflow-ready), versions reached."""

    run_id: str
    full_refresh: bool
    tables: dict[str, TableCounts] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(c.read for c in self.tables.values())

    def summary(self) -> str:
        parts = [
            f"{t}: read={c.read} accepted={c.accepted} quarantined={c.quarantined} duplicates={c.duplicates}"
            f" ({self.methods.get(t, '?')})"
            for t, c in self.tables.items()
        ]
        return f"{'; '.join(parts)} [{self.seconds:.1f}s]"

    def mlflow_metrics(self) -> dict[str, float]:
        return {**self.metrics, "ingest.seconds": self.seconds, "ingest.rows_read": float(self.rows_read)}


@dataclass
class _Validated:
    batch: RawBatch
    flagged: DataFrame
    repeated: DataFrame  # the valid rows' repeated keys (dedup.repeated_keys), shared by counts and de-duplication
    counts: TableCounts

    @property
    def valid(self) -> DataFrame:
        return self.flagged.filter(is_valid()).drop(REASONS, RAW_COLUMN)


def table_rules(config: SeglibConfig, df: DataFrame, table: str, now: datetime) -> list[Rule]:
    """Implicit castability rules for drifted column types, the declared rules of conf/ingest.yaml, then the
    ``ingest.currencies`` allow-list on tables whose contract has a ``currency`` column."""
    implicit = [Rule(name, F.coalesce(F.expr(sql), F.lit(True))) for name, sql in type_rule_sql(df, table).items()]
    declared = compile_rules(config.ingest.rules.get(table, []), now, config.ingest.future_tolerance_minutes)
    currency = [currency_rule(config.ingest.currencies)] if config.ingest.currencies else []
    return implicit + declared + (currency if "currency" in contract_columns(table) else [])


def flag_rows(config: SeglibConfig, raw: DataFrame, table: str, now: datetime) -> tuple[DataFrame, list[Rule]]:
    """Raw rows -> contract-typed rows with ``_raw`` and ``_dq_reasons`` (missing required columns fail here)."""
    rules = table_rules(config, raw, table, now)
    return with_rule_failures(conform_to_contract(raw, table), rules), rules


def validate_batch(config: SeglibConfig, batch: RawBatch, now: datetime) -> _Validated:
    flagged, rules = flag_rows(config, batch.df, batch.table, now)
    # Persisted: the batch feeds three consumers (counts, quarantine, silver); without it raw is re-read 3x.
    flagged = flagged.persist(StorageLevel.MEMORY_AND_DISK)
    repeated = repeated_keys(flagged.filter(is_valid()), DEDUP_KEYS[batch.table])
    counts = batch_counts(flagged, repeated, contract_columns(batch.table), [r.name for r in rules])
    counts.check(batch.table)
    log.info(
        "%s: read %d = accepted %d + quarantined %d + duplicates %d (%s since v%s)",
        batch.table,
        counts.read,
        counts.accepted,
        counts.quarantined,
        counts.duplicates,
        batch.method,
        batch.since_version,
    )
    return _Validated(batch, flagged, repeated, counts)


def _spec(wh: Warehouse, name: str):
    return wh.spec(f"silver/{name}")


def _upsert(df: DataFrame, spec, keys: list[str], full_refresh: bool, update_condition: str | None = None) -> None:
    """Full refresh rewrites the table; otherwise MERGE on the silver key, so re-runs change nothing."""
    if full_refresh:
        write_table(df, spec, mode="overwrite", overwrite_schema=True)
    else:
        merge_upsert(df, spec, keys, update_condition=update_condition)


def _identity_map(spark: SparkSession, wh: Warehouse) -> DataFrame:
    location = wh.location("silver/identity_map")
    if table_exists(spark, location):
        return read_table(spark, location)
    return spark.createDataFrame([], table("silver", "identity_map").schema)


def _write_events_and_identity(spark, tables, v: _Validated, key_ring, run_id: str, full: bool) -> None:
    """Identity links first (so new events use them), then events, then re-key older anonymous events."""
    id_spec = _spec(tables, "identity_map")
    links = build_identity_links(v.valid, key_ring).withColumn("run_id", F.lit(run_id))
    _upsert(links, id_spec, ["anonymous_pseudonym"], full, FIRST_LINK_WINS)
    identity = _identity_map(spark, tables)
    ev_spec = _spec(tables, "events")
    existed = table_exists(spark, ev_spec.location)
    events = silver_events(v.valid, key_ring, identity, run_id, v.repeated)
    _upsert(events, ev_spec, ["event_id"], full, "s.event_ts < t.event_ts")
    if existed and not full:
        new_links = identity.filter(F.col("run_id") == run_id)
        rekey = rekeyed(read_table(spark, ev_spec.location), new_links).withColumn("run_id", F.lit(run_id))
        merge_upsert(rekey, ev_spec, ["event_id"])


def _write_customers(spark, tables, v: _Validated, key_ring, as_of: date, run_id: str, full: bool) -> None:
    """Upsert current customers and delete those whose latest CRM version is a deletion."""
    spec = _spec(tables, "customers")
    live, deleted = silver_customers(v.valid, key_ring, as_of, run_id, v.repeated)
    if full or not table_exists(spark, spec.location):
        write_table(live, spec, mode="overwrite", overwrite_schema=True)
        return
    source = live.withColumn("_is_deleted", F.lit(False)).unionByName(
        deleted.withColumn("_is_deleted", F.lit(True)), allowMissingColumns=True
    )
    merge_upsert(
        source, spec, ["subject_id"], update_condition="s.updated_at >= t.updated_at", delete_condition="s._is_deleted"
    )


def _write_customers_history(spark, tables, v: _Validated, key_ring, run_id: str, full: bool) -> None:
    """SCD type 2 history of the minimised CRM states. Incremental: the touched subjects' stored rows and the batch's
    versions are re-sequenced together (a late-arriving version lands in its place and closes the row before it),
    then merged; stored rows the re-sequencing collapsed are deleted."""
    spec = _spec(tables, "customers_history")
    declared = [c.name for c in table("silver", "customers_history").columns]
    states = customer_states(v.valid, key_ring)
    if full or not table_exists(spark, spec.location):
        history = scd2_history(states).withColumn("run_id", F.lit(run_id)).select(*declared)
        write_table(history, spec, mode="overwrite", overwrite_schema=True)
        return
    stored = read_table(spark, spec.location).join(states.select("subject_id").distinct(), "subject_id", "left_semi")
    resequenced = (
        scd2_history(stored.select(*states.columns).unionByName(states))
        .withColumn("run_id", F.lit(run_id))
        .select(*declared)
    )
    collapsed = stored.join(resequenced, list(HISTORY_KEYS), "left_anti").select(*HISTORY_KEYS)
    source = resequenced.withColumn("_collapsed", F.lit(False)).unionByName(
        collapsed.withColumn("_collapsed", F.lit(True)), allowMissingColumns=True
    )
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in ("valid_to", *HISTORY_ATTRIBUTES))
    merge_upsert(source, spec, list(HISTORY_KEYS), update_condition=changed, delete_condition="s._collapsed")


def _consent_history(config: SeglibConfig, v: _Validated, now: datetime) -> DataFrame:
    """All valid raw consent rows of the subjects this batch touches (latest-per-purpose needs their history)."""
    if v.batch.since_version is None:
        return v.valid
    spark = v.flagged.sparkSession
    full, _ = flag_rows(config, read_table(spark, v.batch.location, v.batch.version), v.batch.table, now)
    history = full.filter(is_valid()).drop(REASONS, RAW_COLUMN)
    touched = v.valid.select(id_key(F.col("subject_id")).alias("_subject_key")).distinct()
    return history.join(touched, id_key(history["subject_id"]) == touched["_subject_key"], "left_semi")


def _quarantine(spark: SparkSession, tables: Warehouse, validated, key_ring, run_id: str, now: datetime) -> None:
    """Every raw table's rejected rows in one ops commit (one per table cost a Delta transaction each)."""
    parts = [
        quarantine_rows(v.flagged.filter(~is_valid()), v.batch.table, v.batch.df.columns, key_ring, run_id, now)
        for v in validated.values()
        if v.counts.quarantined
    ]
    rejected = reduce(DataFrame.unionByName, parts) if parts else None
    write_quarantine(spark, rejected, tables, run_id)


def read_raw_batches(spark: SparkSession, config: SeglibConfig, bookmarks: dict[str, int]) -> dict[str, RawBatch]:
    """Every raw table's batch; a missing table is an empty batch if ``ingest.optional_inputs`` lists it, else an
    error naming every missing required table (checked before anything is read)."""
    wh = Warehouse.of(config)
    locations = {name: wh.location(f"raw/{name}") for name in RAW_INPUTS}
    missing = {name for name, location in locations.items() if not table_exists(spark, location)}
    required = sorted(missing - set(config.ingest.optional_inputs))
    if required:
        found = ", ".join(f"{name} at {locations[name]}" for name in required)
        raise MissingInputError(
            f"raw input table(s) not found: {found}. Run `seg generate`, point inputs.<name> at your tables, "
            "or list the input in ingest.optional_inputs to read it as empty"
        )
    batches = {}
    for name, location in locations.items():
        if name in missing:
            log.warning("%s: optional raw input not found at %s: read as empty", name, location)
            empty = spark.createDataFrame([], contract_schema(name))
            batches[name] = RawBatch(name, location, empty, None, None, "missing")
        else:
            since = bookmarks.get(name)
            batches[name] = read_raw_batch(spark, name, location, since, config.ingest.use_change_data_feed)
    return batches


def run_ingest(
    spark: SparkSession,
    config: SeglibConfig,
    run_id: str,
    now: datetime,
    full_refresh: bool = False,
    as_of: date | None = None,
) -> IngestReport:
    """Ingest the raw tables (only what is new since the last successful run unless ``full_refresh``)."""
    started = time.perf_counter()
    key_ring = load_key_ring(config.privacy)
    refuse_mixed_keys(spark, config, key_ring)  # a table at another key: refused before anything is written
    tables = Warehouse.of(config, key_version=key_ring.active.version)  # silver records the key it is written under
    bookmarks = {} if full_refresh else load_bookmarks(spark, tables)
    batches = read_raw_batches(spark, config, bookmarks)
    validated = {name: validate_batch(config, batch, now) for name, batch in batches.items()}
    try:
        _quarantine(spark, tables, validated, key_ring, run_id, now)
        _write_silver(spark, config, tables, validated, key_ring, run_id, now, as_of or now.date(), full_refresh)
        rows = [r for name, v in validated.items() for r in metric_rows(name, v.counts)]
        events_location = tables.location("silver/events")
        if table_exists(spark, events_location):
            age = freshness_seconds(read_table(spark, events_location), now)
            if age is not None:
                rows.append(("events", "freshness_seconds", "event_ts", age))
        write_dq_metrics(spark, tables, rows, run_id, now)
        save_bookmarks(spark, tables, batches, run_id, now)
    finally:
        for v in validated.values():
            v.flagged.unpersist()
    report = IngestReport(
        run_id=run_id,
        full_refresh=full_refresh,
        tables={name: v.counts for name, v in validated.items()},
        metrics=metrics_dict(rows),
        versions={name: b.version for name, b in batches.items() if b.version is not None},
        methods={name: b.method for name, b in batches.items()},
        seconds=time.perf_counter() - started,
    )
    log.info("ingest %s: %s", run_id, report.summary())
    return report


def _write_silver(spark, config, tables, validated, key_ring, run_id, now, as_of, full: bool) -> None:
    """Each silver table from its batch; an empty incremental batch leaves an existing table untouched, and
    creates a missing one (empty, with its schema), so the feature stage always finds every silver table."""

    def todo(name: str) -> bool:
        if full or validated[name].counts.read > 0:
            return True
        return not table_exists(spark, tables.location(f"silver/{SILVER_OF[name]}"))

    if todo("raw_events"):
        _write_events_and_identity(spark, tables, validated["raw_events"], key_ring, run_id, full)
    if todo("raw_texts"):
        v = validated["raw_texts"]
        texts = silver_texts(v.valid, key_ring, _identity_map(spark, tables), run_id, v.repeated)
        _upsert(texts, _spec(tables, "texts"), ["text_id"], full, "s.created_at < t.created_at")
    if todo("raw_orders"):
        v = validated["raw_orders"]
        orders = silver_orders(v.valid, key_ring, run_id, v.repeated)
        _upsert(orders, _spec(tables, "orders"), ["order_id"], full, _ORDER_NEWER)
    if todo("raw_crm_customers"):
        _write_customers(spark, tables, validated["raw_crm_customers"], key_ring, as_of, run_id, full)
        _write_customers_history(spark, tables, validated["raw_crm_customers"], key_ring, run_id, full)
    if todo("raw_consents"):
        consents = silver_consents(_consent_history(config, validated["raw_consents"], now), key_ring, run_id)
        _upsert(consents, _spec(tables, "consents"), ["subject_id"], full)
