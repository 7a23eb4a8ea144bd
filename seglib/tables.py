"""The table registry: every table seglib reads or writes, declared once.

A :class:`TableDef` says what a table is: layer and name, a description, its columns (type and comment), keys,
partitioning, which columns hold raw identifiers, PII or subject pseudonyms, and how long rows are kept. Everything
else is derived from these declarations: locations (:class:`Warehouse`), the write specs with table and column
comments, the raw input contract that ingest enforces and the generator writes, the tables erasure, re-keying and
vacuum act on, and the contract documentation (``python -m seglib.tables`` writes docs/tables.md and the
README's raw contract section; a test keeps both current). A new table is one entry in :data:`REGISTRY`.

Feature columns are documented per feature group in :mod:`seglib.features.dictionary` (which columns exist depends
on the features config); the ``features/subject_features`` entry declares its keys and roles and takes its column
comments from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglib.config.rules import EVENT_TYPES
from seglib.delta_io import TableSpec

if TYPE_CHECKING:  # pragma: no cover
    from seglib.config import SeglibConfig


class Role(Enum):
    """What a column holds, as far as privacy is concerned."""

    PLAIN = "plain"
    RAW_ID = "raw_id"  # a raw identifier (raw layer only): pseudonymized before it leaves raw
    PII = "pii"  # direct personal data (raw layer only): dropped or minimised before it leaves raw
    SUBJECT = "subject"  # pseudonym of a data subject: erasure deletes rows holding a requested subject here
    PSEUDONYM = "pseudonym"  # pseudonym of a non-subject id (event, order, session): re-keyed on rotation
    SUBJECT_PAYLOAD = "subject_payload"  # JSON holding subject pseudonyms under raw column names (quarantine)


@dataclass(frozen=True)
class Col:
    name: str
    type: str
    comment: str
    role: Role = Role.PLAIN
    required: bool = False  # raw contract: ingest fails fast (naming the column) when a required column is absent


@dataclass(frozen=True)
class TableDef:
    layer: str
    name: str
    comment: str
    columns: tuple[Col, ...]
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    retention: str = "kept until erased"
    # Raw inputs belong to their source systems: seglib reads them, never erases or re-keys them.
    owned: bool = True
    # Columns decided at run time (the feature table: which features exist depends on config).
    dynamic_columns: bool = False
    # Delta table properties of this table (on top of seglib's defaults), e.g. which columns carry file statistics.
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}/{self.name}"

    @property
    def column_comments(self) -> dict[str, str]:
        return {c.name: c.comment for c in self.columns}

    def columns_with(self, *roles: Role) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role in roles)

    @property
    def subject_columns(self) -> tuple[str, ...]:
        return self.columns_with(Role.SUBJECT)

    @property
    def erasable(self) -> bool:
        return self.owned and bool(self.columns_with(Role.SUBJECT, Role.SUBJECT_PAYLOAD))

    @property
    def holds_pseudonyms(self) -> bool:
        """Owned with subject or pseudonym columns: re-keyed on rotation, and every write records the key version of
        its pseudonyms (a ``subject_payload`` keeps the key of its time and is not re-keyed)."""
        return self.owned and bool(self.columns_with(Role.SUBJECT, Role.PSEUDONYM))

    def conform(self, df: DataFrame, constants: Mapping[str, Column] | None = None) -> DataFrame:
        """``df`` as this table's rows: the declared columns in the declared order, each cast to its declared type,
        ``constants`` (column -> value for every row, e.g. the snapshot date or the run id) in place of the frame's
        own column. A declared column that is neither is an error naming it."""
        constants = constants or {}
        missing = [c.name for c in self.columns if c.name not in constants and c.name not in df.columns]
        if missing:
            raise ValueError(f"{self.qualified_name}: no value for the declared columns {missing}")
        return df.select(
            *[
                (constants[c.name] if c.name in constants else F.col(c.name)).cast(spark_type(c.type)).alias(c.name)
                for c in self.columns
            ]
        )

    def schema_of(self, names: Iterable[str]) -> T.StructType:
        """The declared fields ``names``, in that order (rows built in Python carry some columns, conform adds the
        rest)."""
        fields = {f.name: f for f in self.schema.fields}
        unknown = [n for n in names if n not in fields]
        if unknown:
            raise KeyError(f"{self.qualified_name} declares no columns {unknown}")
        return T.StructType([fields[n] for n in names])

    @property
    def schema(self) -> T.StructType:
        """The declared columns as a StructType carrying each column's comment in its metadata."""
        return T.StructType(
            [T.StructField(c.name, spark_type(c.type), True, {"comment": c.comment}) for c in self.columns]
        )


_ATOMIC = {
    "string": T.StringType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
    "boolean": T.BooleanType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
}


def spark_type(ddl: str) -> T.DataType:
    """The Spark type of a declared type string (no session needed, unlike Spark's DDL parser)."""
    ddl = ddl.replace(" ", "")
    if ddl in _ATOMIC:
        return _ATOMIC[ddl]
    if ddl.startswith("decimal(") and ddl.endswith(")"):
        precision, scale = ddl[8:-1].split(",")
        return T.DecimalType(int(precision), int(scale))
    if ddl.startswith("array<") and ddl.endswith(">"):
        return T.ArrayType(spark_type(ddl[6:-1]))
    if ddl.startswith("map<") and ddl.endswith(">"):
        key, value = ddl[4:-1].split(",", 1)
        return T.MapType(spark_type(key), spark_type(value))
    if ddl.startswith("struct<") and ddl.endswith(">"):
        fields = [f.split(":", 1) for f in _top_level_split(ddl[7:-1])]
        return T.StructType([T.StructField(name, spark_type(type_)) for name, type_ in fields])
    raise ValueError(f"unsupported declared type {ddl!r}")


def _top_level_split(text: str) -> list[str]:
    """``a:int,b:map<string,int>`` -> its comma-separated parts outside angle brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _c(name: str, type_: str, comment: str, role: Role = Role.PLAIN, required: bool = False) -> Col:
    return Col(name, type_, comment, role, required)


RUN_ID = _c("run_id", "string", "seglib run that last wrote the row.")
S, P, RID, PII = Role.SUBJECT, Role.PSEUDONYM, Role.RAW_ID, Role.PII

# ------------------------------------------------------------------------------------------------ raw inputs
RAW = (
    TableDef(
        "raw",
        "raw_events",
        "Behavioural events (clickstream, app, e-mail): one row per event; duplicates possible.",
        (
            _c("event_id", "string", "Event identifier (duplicates possible in raw data).", RID, True),
            _c("event_ts", "timestamp", "When the event happened (UTC).", required=True),
            _c("anonymous_id", "string", "Device/cookie identifier, present before and after login.", RID, True),
            _c("customer_id", "string", "CRM customer id when logged in, else null.", RID, True),
            _c("session_id", "string", "Web/app session identifier.", RID),
            _c("event_type", "string", f"{', '.join(EVENT_TYPES)}.", required=True),
            _c("channel", "string", "web, app, email or social."),
            _c("device", "string", "desktop, mobile or tablet."),
            _c("country", "string", "ISO-3166 alpha-2 country."),
            _c("content_category", "string", "Category of the content or product involved."),
            _c("product_id", "string", "Product involved, for product events."),
            _c("revenue", "decimal(18,2)", "Purchase amount; null unless a purchase."),
            _c("currency", "string", "ISO-4217 currency of revenue."),
            _c("properties", "map<string,string>", "Free-form event properties (query, promo_code, feature, ...)."),
        ),
        keys=("event_id",),
        owned=False,
    ),
    TableDef(
        "raw",
        "raw_crm_customers",
        "CRM change log: several versions per customer, the latest updated_at wins, is_deleted marks deletion.",
        (
            _c("customer_id", "string", "CRM customer id.", RID, True),
            _c("email", "string", "E-mail address (PII).", PII),
            _c("phone", "string", "Phone number (PII).", PII),
            _c("first_name", "string", "First name (PII).", PII),
            _c("last_name", "string", "Last name (PII).", PII),
            _c("birth_date", "date", "Date of birth (PII).", PII),
            _c("gender", "string", "female, male, nonbinary or null."),
            _c("country", "string", "ISO-3166 alpha-2 country."),
            _c("postal_code", "string", "Postal code (PII).", PII),
            _c("income_band", "string", "low, lower_middle, upper_middle or high."),
            _c("signup_date", "date", "Account creation date."),
            _c("company_name", "string", "Employer, for business customers (PII).", PII),
            _c("company_size", "int", "Employees of the company."),
            _c("industry", "string", "Industry of the company."),
            _c("job_title", "string", "Job title."),
            _c("plan", "string", "free, basic, premium or enterprise."),
            _c("updated_at", "timestamp", "Version time; the latest version per customer wins.", required=True),
            _c("is_deleted", "boolean", "True on the version that deletes the customer.", required=True),
        ),
        keys=("customer_id", "updated_at"),
        owned=False,
    ),
    TableDef(
        "raw",
        "raw_orders",
        "Orders; an order may appear in several states (the latest wins).",
        (
            _c("order_id", "string", "Order identifier.", RID, True),
            _c("customer_id", "string", "CRM customer id.", RID, True),
            _c("order_ts", "timestamp", "Order time (UTC).", required=True),
            _c("amount", "decimal(18,2)", "Order amount.", required=True),
            _c("currency", "string", "ISO-4217 currency."),
            _c("status", "string", "completed, refunded or cancelled.", required=True),
            _c("items", "int", "Number of items."),
            _c("product_category", "string", "Main product category."),
        ),
        keys=("order_id",),
        owned=False,
    ),
    TableDef(
        "raw",
        "raw_consents",
        "Consent decisions; the latest per subject and purpose wins.",
        (
            _c("subject_id", "string", "customer_id or anonymous_id.", RID, True),
            _c("purpose", "string", "analytics, personalization or marketing_email.", required=True),
            _c("granted", "boolean", "Consent given (true) or withdrawn (false).", required=True),
            _c("updated_at", "timestamp", "Decision time; the latest per subject and purpose wins.", required=True),
        ),
        keys=("subject_id", "purpose", "updated_at"),
        owned=False,
    ),
    TableDef(
        "raw",
        "raw_texts",
        "Free texts: surveys, support tickets and reviews.",
        (
            _c("text_id", "string", "Text identifier.", RID, True),
            _c("customer_id", "string", "Author's customer id, if known.", RID, True),
            _c("anonymous_id", "string", "Author's anonymous id, if not a known customer.", RID, True),
            _c("source", "string", "survey, support_ticket or review."),
            _c("text", "string", "Free text; may contain e-mail addresses or phone numbers.", required=True),
            _c("created_at", "timestamp", "When the text was written (UTC).", required=True),
        ),
        keys=("text_id",),
        owned=False,
    ),
    TableDef(
        "raw",
        "planted_truth",
        "Planted segments of the synthetic data (seg generate only), for evaluating segmentation.",
        (
            _c("customer_id", "string", "CRM customer id (null for anonymous-only visitors).", RID),
            _c("anonymous_id", "string", "The subject's anonymous id.", RID),
            _c("planted_segment", "string", "Behavioural segment the generator planted."),
            _c("is_anonymous_only", "boolean", "Visitor never identified."),
            _c("is_deleted", "boolean", "Latest CRM version deletes the customer."),
        ),
        owned=False,
    ),
)
RAW_INPUTS = ("raw_events", "raw_crm_customers", "raw_orders", "raw_consents", "raw_texts")

# ------------------------------------------------------------------------------------------------ silver
# The minimised CRM attributes after subject_id and age_band, shared by silver customers and its history.
CUSTOMER_ATTRIBUTES = (
    _c("gender", "string", "female, male, nonbinary or null."),
    _c("country", "string", "ISO-3166 alpha-2 country."),
    _c("region", "string", "Region derived from country and postal prefix."),
    _c("postal_prefix", "string", "First characters of the postal code (generalised)."),
    _c("income_band", "string", "low, lower_middle, upper_middle or high."),
    _c("signup_date", "date", "Account creation date."),
    _c("company_size_band", "string", "Band of the company's employee count."),
    _c("industry", "string", "Industry of the company."),
    _c("plan", "string", "free, basic, premium or enterprise."),
    _c("is_b2b", "boolean", "True when the customer has a company (firmographics apply)."),
)

SILVER = (
    TableDef(
        "silver",
        "events",
        "Validated, de-duplicated behavioural events; identifiers pseudonymized (HMAC).",
        (
            _c("event_id", "string", "Pseudonym of the raw event_id (unique).", P),
            _c("event_ts", "timestamp", "When the event happened (UTC)."),
            _c("event_date", "date", "UTC date of event_ts."),
            _c(
                "subject_id",
                "string",
                "Pseudonym of the customer (direct or identity-stitched), else of the anonymous id.",
                S,
            ),
            _c(
                "anonymous_pseudonym",
                "string",
                "Pseudonym of the anonymous id, kept so later identity links can re-key events.",
                S,
            ),
            _c("session_id", "string", "Pseudonym of the raw session id.", P),
            _c("event_type", "string", "Validated event type."),
            _c("channel", "string", "web, app, email or social."),
            _c("device", "string", "desktop, mobile or tablet."),
            _c("country", "string", "ISO-3166 alpha-2 country."),
            _c("content_category", "string", "Category of the content or product involved."),
            _c("product_id", "string", "Product involved, for product events."),
            _c("revenue", "decimal(18,2)", "Purchase revenue; null for non-purchase events."),
            _c("currency", "string", "ISO-4217 currency of revenue."),
            RUN_ID,
        ),
        keys=("event_id",),
        # Not partitioned by date: daily partitions made thousands of small files per load (every task writes every
        # day), which slowed the write ~1.5x and every reader. File statistics only on the time and type columns
        # (they skip files once a table is clustered by time, e.g. OPTIMIZE ... ZORDER BY (event_ts)); min/max of
        # random hex pseudonyms span every file and skip nothing, and cost ~20% of the write.
        properties=(("delta.dataSkippingStatsColumns", "event_ts,event_date,event_type"),),
    ),
    TableDef(
        "silver",
        "identity_map",
        "Anonymous id pseudonym -> subject (customer pseudonym), first link wins.",
        (
            _c("anonymous_pseudonym", "string", "Pseudonym of the anonymous id.", S),
            _c("subject_id", "string", "Pseudonym of the customer it was linked to.", S),
            _c("first_linked_ts", "timestamp", "Time of the first event that tied the anonymous id to a customer."),
            RUN_ID,
        ),
        keys=("anonymous_pseudonym",),
    ),
    TableDef(
        "silver",
        "customers",
        "Current CRM state per subject, minimised (bands, prefixes; no names/contacts); deleted customers removed.",
        (
            _c("subject_id", "string", "Pseudonym of customer_id.", S),
            _c("age_band", "string", "Age band at the snapshot (birth date dropped)."),
            *CUSTOMER_ATTRIBUTES,
            _c("updated_at", "timestamp", "CRM version time of this state."),
            RUN_ID,
        ),
        keys=("subject_id",),
    ),
    TableDef(
        "silver",
        "customers_history",
        "CRM history per subject, SCD type 2: one row per change of the minimised attributes, valid in "
        "[valid_from, valid_to); a CRM deletion closes the history with an attribute-less is_deleted row. Features "
        "read it as of their snapshot, so a past cut-off sees the plan and attributes of that time.",
        (
            _c("subject_id", "string", "Pseudonym of customer_id.", S),
            _c("age_band", "string", "Age band at valid_from (what the CRM said then; birth date dropped)."),
            *CUSTOMER_ATTRIBUTES,
            _c("valid_from", "timestamp", "CRM version time from which this state holds (inclusive)."),
            _c("valid_to", "timestamp", "Time of the next change (exclusive); null while current."),
            _c("is_current", "boolean", "True on the subject's latest row (valid_to is null)."),
            _c("is_deleted", "boolean", "True on the row that records the customer's deletion in the CRM."),
            RUN_ID,
        ),
        keys=("subject_id", "valid_from"),
    ),
    TableDef(
        "silver",
        "orders",
        "One row per order (latest state); net_amount counts cancellations and refunds as 0.",
        (
            _c("order_id", "string", "Pseudonym of the raw order_id.", P),
            _c("subject_id", "string", "Pseudonym of customer_id.", S),
            _c("order_ts", "timestamp", "Order time (UTC)."),
            _c("order_date", "date", "UTC date of order_ts."),
            _c("amount", "decimal(18,2)", "Order amount."),
            _c("currency", "string", "ISO-4217 currency."),
            _c("status", "string", "completed, refunded or cancelled."),
            _c("items", "int", "Number of items."),
            _c("product_category", "string", "Main product category."),
            _c(
                "net_amount",
                "decimal(18,2)",
                "amount when completed, 0 when cancelled or refunded: sums give net revenue.",
            ),
            RUN_ID,
        ),
        keys=("order_id",),
    ),
    TableDef(
        "silver",
        "consents",
        "Latest consent decision per subject and purpose (features keep subjects with privacy.required_consent).",
        (
            _c("subject_id", "string", "Pseudonym of the consenting customer or anonymous id.", S),
            _c("analytics", "boolean", "Latest analytics decision; null if never asked."),
            _c("personalization", "boolean", "Latest personalization decision; null if never asked."),
            _c("marketing_email", "boolean", "Latest marketing e-mail decision; null if never asked."),
            _c("updated_at", "timestamp", "Time of the latest decision of any purpose."),
            RUN_ID,
        ),
        keys=("subject_id",),
    ),
    TableDef(
        "silver",
        "texts",
        "Free texts with e-mail addresses and phone numbers masked.",
        (
            _c("text_id", "string", "Pseudonym of the raw text_id.", P),
            _c("subject_id", "string", "Subject as in events (identity-stitched).", S),
            _c("source", "string", "survey, support_ticket or review."),
            _c("text", "string", "Text with PII patterns masked."),
            _c("created_at", "timestamp", "When the text was written (UTC)."),
            RUN_ID,
        ),
        keys=("text_id",),
    ),
)

# ------------------------------------------------------------------------------------------------ features, segments
FEATURES = (
    TableDef(
        "features",
        "subject_features",
        "One row per subject per snapshot_date; point-in-time correct (data before the snapshot day).",
        (_c("subject_id", "string", "Pseudonymous subject key.", S), _c("snapshot_date", "date", "Snapshot date.")),
        keys=("subject_id", "snapshot_date"),
        partition_by=("snapshot_date",),
        dynamic_columns=True,
    ),
)
# The model families' segment family names (the rule families are named in conf/segments.yaml).
CLUSTER_FAMILY = "cluster"
CLV_FAMILY = "clv_bracket"
PROPENSITY_PREFIX = "propensity_"


def propensity_family(target: str) -> str:
    """The segment family of a propensity target's tiers."""
    return f"{PROPENSITY_PREFIX}{target}"


SEGMENT_FAMILY = _c(
    "segment_family",
    "string",
    "Family of segments the row belongs to: cluster; a rule family of conf/segments.yaml (e.g. playbook, tags); "
    "propensity_<target> (score tiers); clv_bracket.",
)
SEGMENT_TYPE = _c("segment_type", "string", "cluster | rule | tag | propensity_tier | clv_bracket")
SEGMENT_ID = _c(
    "segment_id",
    "string",
    "Segment within its family, stable across snapshots: clusters S001.. (inherited by member overlap), rules the "
    "slug of the rule name, tiers high|medium|low, brackets top|high|medium|low.",
)
SEGMENT_NAME = _c("segment_name", "string", "Human-readable persona, rule, tier or bracket name.")
SNAPSHOT = _c("snapshot_date", "date", "Snapshot the row describes: only data before 00:00 UTC of this day was used.")
MEETS_MIN_SIZE = _c(
    "meets_min_size",
    "boolean",
    "k-anonymity: the segment has >= segments.min_segment_size subjects and >= segments.min_segment_share of the "
    "snapshot. False: flagged, never exportable, its profile suppressed.",
)
# Lineage: every published row says which run, inputs, models and configuration produced it.
LINEAGE = (
    _c("run_id", "string", "seglib run that wrote the row (joins to the MLflow run tag seglib.run_id)."),
    _c("config_hash", "string", "SHA-256 (first 16 hex) of the configuration sections that decide segments."),
    _c(
        "input_versions",
        "map<string,bigint>",
        "Delta version of every input table read (layer/name -> version): the run can be replayed by time travel.",
    ),
    _c(
        "model_versions",
        "map<string,string>",
        "Registered MLflow model -> version whose outputs the run combined (clustering, classifier, propensity, CLV).",
    ),
)
SEGMENTS = (
    TableDef(
        "segments",
        "segment_membership",
        "Current segment membership: one row per subject, segment family and segment of the latest published "
        "snapshot. MERGE-updated (rows of subjects that left a segment are deleted), so Delta time travel and the "
        "change data feed give every earlier state and each change.",
        (
            _c("subject_id", "string", "Pseudonymous subject key (keyed HMAC; see docs/privacy.md).", S),
            SNAPSHOT,
            SEGMENT_FAMILY,
            SEGMENT_TYPE,
            SEGMENT_ID,
            SEGMENT_NAME,
            _c(
                "assignment_source",
                "string",
                "cluster (the clustering model) | classifier (sparse subject, classifier above its threshold) | "
                "fallback (sparse subject, classifier below it) | rule | rule_fallback (no rule matched) | model "
                "(propensity tier, CLV bracket).",
            ),
            _c(
                "confidence",
                "double",
                "GMM probability of the cluster, or the classifier's probability of its class; null otherwise.",
            ),
            _c("score", "double", "Propensity score (propensity tiers) or predicted CLV (clv_bracket); else null."),
            MEETS_MIN_SIZE,
            *LINEAGE,
            _c("assigned_at", "timestamp", "When the assignment was computed (UTC)."),
        ),
        keys=("subject_id", "segment_family", "segment_id"),
    ),
    TableDef(
        "segments",
        "segment_membership_history",
        "Slowly changing dimension (type 2) of segment membership: one row per stay of a subject in a segment of a "
        "family, valid in [valid_from, valid_to).",
        (
            _c("subject_id", "string", "Pseudonymous subject key.", S),
            SEGMENT_FAMILY,
            SEGMENT_TYPE,
            SEGMENT_ID,
            SEGMENT_NAME,
            _c("valid_from", "date", "First snapshot with this membership (inclusive)."),
            _c("valid_to", "date", "First snapshot without it (exclusive); null while current."),
            _c("is_current", "boolean", "True while the membership holds in the latest snapshot (valid_to is null)."),
            *LINEAGE,
        ),
        keys=("subject_id", "segment_family", "segment_id", "valid_from"),
    ),
    TableDef(
        "segments",
        "segment_transitions",
        "Moves between segments of an exclusive family: subject went from A to B at a snapshot (A null: new "
        "subject; B null: the subject left the snapshot, e.g. consent revoked).",
        (
            _c("subject_id", "string", "Pseudonymous subject key.", S),
            _c("snapshot_date", "date", "Snapshot at which the subject is first seen in the new segment."),
            _c("previous_snapshot_date", "date", "The published snapshot before it (where from_segment held)."),
            SEGMENT_FAMILY,
            _c("from_segment_id", "string", "Segment at the previous snapshot; null if the subject was not in it."),
            _c("from_segment_name", "string", "Its name."),
            _c("to_segment_id", "string", "Segment at this snapshot; null if the subject left."),
            _c("to_segment_name", "string", "Its name."),
            *LINEAGE,
        ),
        keys=("subject_id", "segment_family", "snapshot_date"),
        partition_by=("snapshot_date",),
    ),
    TableDef(
        "segments",
        "segment_definitions",
        "Every segment's definition per snapshot: rule expressions (as written and with run-time percentiles "
        "resolved), cluster personas, tier and bracket thresholds. A definition change shows as a new "
        "definition_hash.",
        (
            SNAPSHOT,
            SEGMENT_FAMILY,
            SEGMENT_TYPE,
            SEGMENT_ID,
            SEGMENT_NAME,
            _c("exclusive", "boolean", "True: one segment of the family per subject; false: tags."),
            _c("priority", "int", "Rule priority (lower wins in an exclusive family); null for model segments."),
            _c("definition", "string", "The rule expression, or how the model segment is defined."),
            _c("resolved_definition", "string", "The definition with run-time thresholds (percentiles) substituted."),
            _c("description", "string", "What the segment is for (rule description, persona description)."),
            _c("definition_hash", "string", "SHA-256 (first 16 hex) of family, id, definition and priority."),
            *LINEAGE,
        ),
        keys=("snapshot_date", "segment_family", "segment_id"),
    ),
    TableDef(
        "segments",
        "segment_profiles",
        "Per snapshot, family and segment: size, share, k-anonymity flag, KPIs over the activity window and the "
        "content categories and products the segment over-indexes on (what personalization shows it). KPIs and "
        "top lists are null for segments below the minimum size (suppressed).",
        (
            SNAPSHOT,
            SEGMENT_FAMILY,
            SEGMENT_TYPE,
            SEGMENT_ID,
            SEGMENT_NAME,
            _c("size", "bigint", "Subjects in the segment."),
            _c("share", "double", "size / subjects of the snapshot with a row in this family."),
            MEETS_MIN_SIZE,
            _c("conversion_rate", "double", "Share of members with a completed order in the KPI window."),
            _c("ctr", "double", "E-mail clicks / e-mail opens of the members in the KPI window."),
            _c("bounce_rate", "double", "Share of the members' sessions in the KPI window with a single event."),
            _c("aov", "double", "Average net value of the members' completed orders in the KPI window."),
            _c("revenue_per_subject", "double", "Net value of completed orders in the KPI window / size."),
            _c(
                "top_categories",
                "array<struct<name:string,lift:double,share:double>>",
                "Content categories by lift (segment's share of events in the category / the population's), top "
                "first; share = the segment's share.",
            ),
            _c("top_products", "array<struct<name:string,lift:double,share:double>>", "Products by lift, top first."),
            _c("description", "string", "Persona description (clusters) or rule description."),
            *LINEAGE,
        ),
        keys=("snapshot_date", "segment_family", "segment_id"),
    ),
    TableDef(
        "segments",
        "segment_publications",
        "One row per completed publication of a snapshot, written last: the Delta version of every segment table "
        "it produced, so a consumer reads a consistent set (time travel to these versions).",
        (
            SNAPSHOT,
            _c("run_id", "string", "seglib run that published."),
            _c("published_at", "timestamp", "When the publication completed (UTC)."),
            _c("table_versions", "map<string,bigint>", "segments/<table> -> Delta version written by this run."),
            _c("subjects", "bigint", "Subjects with at least one membership row."),
            _c("config_hash", "string", "As in the published rows."),
            _c("input_versions", "map<string,bigint>", "As in the published rows."),
            _c("model_versions", "map<string,string>", "As in the published rows."),
            _c(
                "skipped_families",
                "array<struct<family:string,status:string,reason:string>>",
                "Model families this publication lacks and why: status skipped (could not be trained or scored on "
                "this data; the run exited 3) or not_applicable (the data lacks an input the family needs). Empty "
                "when every family was published.",
            ),
        ),
        keys=("snapshot_date", "run_id"),
    ),
)

# ------------------------------------------------------------------------------------------------ models
MODELS = (
    TableDef(
        "models",
        "cluster_assignments",
        "Cluster segment of every subject per snapshot (seglib/segments/snapshot.py): clustered subjects by the "
        "clustering model, sparse ones by the segment classifier or the fallback; consumed by segment assignment.",
        (
            _c("subject_id", "string", "Pseudonymous subject key (keyed HMAC; see docs/privacy.md).", S),
            _c("snapshot_date", "date", "Snapshot: features from data before 00:00 UTC of this day."),
            _c(
                "segment_id",
                "string",
                "Cluster segment, stable across snapshots: a re-fit's cluster inherits the id of the previous "
                "snapshot's segment it shares most clustered members with; new segments get ids never used before.",
            ),
            _c("segment_name", "string", "Persona name (kept with the id across snapshots)."),
            _c(
                "assignment_source",
                "string",
                "cluster | classifier (sparse subject, classifier confidence >= its threshold) | fallback (below it).",
            ),
            _c(
                "confidence",
                "double",
                "GMM: the probability of the assigned cluster; classifier (and fallback below its threshold): the "
                "classifier's top class probability; else null (hard clusterings, small-segment merges).",
            ),
            _c("model_name", "string", "Registered MLflow model that assigned the subject."),
            _c("model_version", "string", "Registered model version."),
            _c("run_id", "string", "seglib run id that wrote the row (joins to the MLflow run tag seglib.run_id)."),
            _c("assigned_at", "timestamp", "When the assignment was computed (UTC)."),
        ),
        keys=("subject_id", "snapshot_date"),
        partition_by=("snapshot_date",),
    ),
    TableDef(
        "models",
        "cluster_profiles",
        "One persona per snapshot and cluster segment: size, centroid, z-scores, name, description (the clustering's "
        "view; segments/segment_profiles adds KPIs and content lift for every family).",
        (
            _c("snapshot_date", "date", "Date the segments describe."),
            _c("segment_id", "string", "Stable segment identifier (as in cluster_assignments)."),
            _c("segment_name", "string", "Human-readable persona name (kept with the id across snapshots)."),
            _c("size", "bigint", "Subjects in the segment."),
            _c("share", "double", "size / subjects in the snapshot."),
            _c("is_new", "boolean", "True when no segment of the previous snapshot matched it (fresh id)."),
            _c("below_min_size", "boolean", "True when published under small_segment_policy=flag below the minimum."),
            _c(
                "source_clusters",
                "array<int>",
                "Cluster numbers of this fit forming the segment (several after a merge).",
            ),
            _c("centroid", "map<string,double>", "Feature -> mean over the members, in the feature's own unit."),
            _c("z_scores", "map<string,double>", "Feature -> (centroid - population mean) / population std."),
            _c("top_features", "array<string>", "Features with the largest |z|, most distinctive first."),
            _c("description", "string", "One-paragraph persona description generated from the numbers above."),
            _c("model_name", "string", "Registered MLflow model that produced the assignment."),
            _c("model_version", "string", "Registered model version."),
            _c("run_id", "string", "seglib run id that wrote the row."),
        ),
        keys=("snapshot_date", "segment_id"),
    ),
    TableDef(
        "models",
        "propensity_scores",
        "Propensity scores per snapshot and target (seglib/modeling/propensity.py): one commit per snapshot and "
        "target; consumed by segment assignment.",
        (
            _c("subject_id", "string", "Pseudonymous subject key (keyed HMAC; see docs/privacy.md).", S),
            _c("snapshot_date", "date", "Snapshot scored: features from data before 00:00 UTC of this day."),
            _c("target", "string", "Target name (propensity.targets), e.g. purchase_30d, churn_30d."),
            _c("score", "double", "Model probability of the target's event in its label window after the snapshot."),
            _c("tier", "string", "high | medium | low by the snapshot's score quantiles (propensity.tier_quantiles)."),
            _c("model_name", "string", "Registered MLflow model that scored (its champion when scoring)."),
            _c("model_version", "string", "Registered model version."),
            _c("run_id", "string", "seglib run id that wrote the row (joins to the MLflow run tag seglib.run_id)."),
        ),
        keys=("subject_id", "snapshot_date", "target"),
        partition_by=("snapshot_date",),
    ),
    TableDef(
        "models",
        "clv_predictions",
        "Predicted customer lifetime value per snapshot (seglib/modeling/clv.py: BG/NBD purchases x Gamma-Gamma "
        "value), for every consenting subject with a completed order before the snapshot; one commit per snapshot.",
        (
            _c("subject_id", "string", "Pseudonymous subject key (keyed HMAC; see docs/privacy.md).", S),
            _c("snapshot_date", "date", "Snapshot: completed orders before 00:00 UTC of this day."),
            _c("frequency", "int", "Repeat purchases: purchase periods (clv.period) with a completed order, minus 1."),
            _c("recency", "int", "Periods from the first to the last purchase period."),
            _c("T", "int", "Whole periods from the first purchase to the snapshot."),
            _c("monetary_value", "double", "Mean value of the positive-value repeat purchase periods; null if none."),
            _c("probability_alive", "double", "BG/NBD probability that the subject has not dropped out."),
            _c("expected_purchases", "double", "Expected purchase periods within clv.horizon_days after the snapshot."),
            _c("expected_avg_value", "double", "Gamma-Gamma expected value of a purchase (population mean if none)."),
            _c(
                "predicted_clv",
                "double",
                "Expected revenue (net_amount) over the horizon, discounted at clv.annual_discount_rate.",
            ),
            _c("clv_bracket", "string", "top | high | medium | low by the snapshot's predicted_clv quantiles."),
            _c("period", "string", "day or week: the unit of frequency, recency and T."),
            _c("horizon_days", "int", "Prediction horizon in days."),
            _c("model_name", "string", "Registered MLflow model whose parameters scored (its champion)."),
            _c("model_version", "string", "Registered model version."),
            _c("run_id", "string", "seglib run id that wrote the row (joins to the MLflow run tag seglib.run_id)."),
        ),
        keys=("subject_id", "snapshot_date"),
        partition_by=("snapshot_date",),
    ),
)

# ------------------------------------------------------------------------------------------------ ops
OPS = (
    TableDef(
        "ops",
        "quarantine",
        "Rows rejected by ingest rules: rules broken and the pseudonymized original row (no PII).",
        (
            _c("table_name", "string", "Raw table the row came from."),
            _c("rules", "array<string>", "Names of every rule the row broke (conf/ingest.yaml)."),
            _c(
                "row_json",
                "string",
                "The raw row's contract columns as JSON, identifiers pseudonymized and PII dropped/masked.",
                Role.SUBJECT_PAYLOAD,
            ),
            _c("run_id", "string", "Ingest run that quarantined the row."),
            _c("quarantined_at", "timestamp", "The run's 'now' (UTC)."),
        ),
        keys=("run_id", "table_name"),
        retention="until erased or re-keyed (row_json keeps pseudonyms under the key current at quarantine time)",
    ),
    TableDef(
        "ops",
        "dq_metrics",
        "Data-quality metrics per ingest run and raw table, long format (one row per metric and column).",
        (
            _c("run_id", "string", "Ingest run."),
            _c("table_name", "string", "Raw table."),
            _c(
                "metric",
                "string",
                "rows_read, rows_accepted, rows_quarantined, duplicates, quarantine_rate, duplicate_rate, "
                "completeness, rule_failures, freshness_seconds.",
            ),
            _c("column", "string", "Column (completeness), rule name (rule_failures), else null."),
            _c("value", "double", "The metric's value (rates and completeness in [0, 1])."),
            _c("measured_at", "timestamp", "The run's 'now' (UTC)."),
        ),
        keys=("run_id", "table_name", "metric", "column"),
    ),
    TableDef(
        "ops",
        "ingest_bookmarks",
        "Last raw Delta version each raw table was ingested up to (incremental ingest).",
        (
            _c("table_name", "string", "Raw table."),
            _c("location", "string", "Where the raw table was read."),
            _c("version", "bigint", "Raw table Delta version fully ingested by run_id."),
            _c("run_id", "string", "Ingest run that reached the version."),
            _c("updated_at", "timestamp", "The run's 'now' (UTC)."),
        ),
        keys=("table_name",),
    ),
    TableDef(
        "ops",
        "erasure_log",
        "Audit log of erasure requests: counts per table only, never an identifier or pseudonym.",
        (
            _c("erasure_id", "string", "Random uuid4 of this erasure; not derived from any identifier."),
            _c("requested_at", "timestamp", "When the erasure ran (the run's `now`)."),
            _c("subjects_requested", "bigint", "Distinct raw ids in the request (counts only: no identifier)."),
            _c("linked_identities", "bigint", "Anonymous ids linked to the requested customers by the identity map."),
            _c("key_versions", "array<string>", "Key versions used to derive pseudonyms."),
            _c("tables_scanned", "bigint", "Owned tables with a subject column."),
            _c("tables_touched", "array<string>", "Tables where rows were deleted (layer/name)."),
            _c("rows_deleted", "map<string,bigint>", "Rows deleted per table (layer/name -> rows), 0 without a match."),
            _c("total_rows_deleted", "bigint", "Sum of rows_deleted."),
            _c("run_id", "string", "Run that executed the erasure."),
        ),
        keys=("erasure_id",),
        retention="kept (the legal record of erasures; holds no identifier)",
    ),
    TableDef(
        "ops",
        "run_lock",
        "The warehouse's run lease: at most one row, held by the seglib run writing now (see seglib/run_lock.py).",
        (
            _c("lock_name", "string", "Name of the lock (one per warehouse)."),
            _c("run_id", "string", "Run holding the lease."),
            _c("command", "string", "The command that run executes."),
            _c("holder", "string", "host:pid of the driver holding the lease."),
            _c("acquired_at", "timestamp", "When the lease was taken (UTC wall clock)."),
            _c("expires_at", "timestamp", "When the lease lapses if the run never releases it (crash)."),
        ),
        keys=("lock_name",),
        retention="one row while a run is active",
    ),
)

REGISTRY: dict[str, TableDef] = {t.qualified_name: t for t in (*RAW, *SILVER, *FEATURES, *SEGMENTS, *MODELS, *OPS)}


def table(layer: str, name: str) -> TableDef:
    """The declaration of ``layer/name``; an unknown table is a programming error, named in the message."""
    try:
        return REGISTRY[f"{layer}/{name}"]
    except KeyError:
        raise KeyError(f"table {layer}/{name} is not declared in seglib.tables.REGISTRY") from None


def raw_input(name: str) -> TableDef:
    if name not in RAW_INPUTS:
        raise KeyError(f"unknown raw table {name!r}; expected one of {RAW_INPUTS}")
    return table("raw", name)


def tables_in(*layers: str) -> Iterator[TableDef]:
    return (t for t in REGISTRY.values() if t.layer in layers)


def pseudonym_sources() -> tuple[TableDef, ...]:
    """The tables pseudonyms are minted into (ingest writes silver under the ring's active key); every later table
    copies its pseudonyms from them, so it records the key version they record."""
    return tuple(t for t in tables_in("silver") if t.holds_pseudonyms)


@dataclass(frozen=True)
class Warehouse:
    """Where each declared table lives for one config: ``warehouse.path/<layer>/<name>``, raw inputs as configured."""

    root: str
    catalog_schema: str | None = None
    raw_overrides: dict[str, str] = field(default_factory=dict)
    # Active key version of a run minting pseudonyms (ingest: the ring it loaded), recorded by the tables holding
    # pseudonyms it writes; None: they record the version of the silver tables they copy their pseudonyms from.
    key_version: str | None = None

    @classmethod
    def of(cls, config: SeglibConfig, key_version: str | None = None) -> Warehouse:
        explicit = {n: getattr(config.inputs, n) for n in RAW_INPUTS if getattr(config.inputs, n)}
        return cls(config.warehouse.path.rstrip("/"), config.warehouse.catalog_schema, explicit, key_version)

    def location(self, t: TableDef | str) -> str:
        """Path/URI (or catalog name for a raw input configured as one) of a declared table."""
        t = t if isinstance(t, TableDef) else REGISTRY[t]
        if t.layer == "raw" and t.name in self.raw_overrides:
            return self.raw_overrides[t.name]
        if "://" in self.root or self.root.startswith(("dbfs:", "file:")):
            return f"{self.root}/{t.layer}/{t.name}"
        return str(PurePosixPath(self.root) / t.layer / t.name)

    def spec(self, t: TableDef | str, column_comments: dict[str, str] | None = None, **properties: str) -> TableSpec:
        """The write spec of a declared table: location, comments, partitioning, catalog registration, and for a table
        holding pseudonyms where their key version comes from (this warehouse's, else the pseudonym sources')."""
        t = t if isinstance(t, TableDef) else REGISTRY[t]
        register = f"{self.catalog_schema}.{t.name}" if self.catalog_schema and t.owned else None
        minted = t.holds_pseudonyms and self.key_version is not None
        copied = t.holds_pseudonyms and self.key_version is None
        return TableSpec(
            location=self.location(t),
            comment=t.comment,
            column_comments={**t.column_comments, **(column_comments or {})},
            partition_by=t.partition_by,
            properties={**dict(t.properties), **properties},
            register_as=register,
            key_version=self.key_version if minted else None,
            key_version_from=tuple(self.location(s) for s in pseudonym_sources()) if copied else (),
        )


# ------------------------------------------------------------------------------------------------ documentation


def _columns_markdown(t: TableDef) -> list[str]:
    lines = ["| column | type | required | role | comment |", "|---|---|---|---|---|"]
    for c in t.columns:
        required = "yes" if c.required else ""
        role = "" if c.role is Role.PLAIN else c.role.value
        lines.append(f"| `{c.name}` | {c.type} | {required} | {role} | {c.comment} |")
    return lines


def raw_contract_markdown() -> str:
    """The raw input contract (the README's section between the contract markers)."""
    lines = []
    for name in RAW_INPUTS:
        t = raw_input(name)
        lines += [f"**`{name}`** — {t.comment}", "", *_columns_markdown(t), ""]
    return "\n".join(lines)


def tables_markdown() -> str:
    """Markdown of every declared table: the raw inputs, then every table seglib writes (docs/tables.md)."""
    lines = [
        "# Tables",
        "",
        "Generated from `seglib/tables.py` by `python -m seglib.tables` (a test keeps this file and the README's",
        "contract section current). Roles: `raw_id` raw identifier (pseudonymized at ingest), `pii` personal data",
        "(dropped or minimised at ingest), `subject` subject pseudonym (erasure deletes rows by it), `pseudonym`",
        "pseudonym of a non-subject id (re-keyed on key rotation), `subject_payload` JSON holding subject pseudonyms",
        "(erased by substring).",
    ]
    for t in REGISTRY.values():
        lines += ["", f"## `{t.qualified_name}`", "", t.comment, ""]
        facts = []
        if t.keys:
            facts.append(f"keys: {', '.join(f'`{k}`' for k in t.keys)}")
        if t.partition_by:
            facts.append(f"partitioned by {', '.join(f'`{k}`' for k in t.partition_by)}")
        facts += [f"`{k}` = `{v}`" for k, v in t.properties]
        facts.append("input (read, never modified)" if not t.owned else f"retention: {t.retention}")
        lines += ["; ".join(facts) + ".", ""]
        if t.dynamic_columns:
            lines += [
                "Columns depend on the features config: the keys below, then the features of",
                "[the data dictionary](data_dictionary.md).",
                "",
            ]
        lines += _columns_markdown(t)
    return "\n".join(lines) + "\n"


CONTRACT_BEGIN = "<!-- raw contract: generated by `python -m seglib.tables`, do not edit -->"
CONTRACT_END = "<!-- end of raw contract -->"


def with_contract_section(readme: str) -> str:
    """``readme`` with the text between the contract markers replaced by :func:`raw_contract_markdown`."""
    head, rest = readme.split(CONTRACT_BEGIN, 1)
    _, tail = rest.split(CONTRACT_END, 1)
    return f"{head}{CONTRACT_BEGIN}\n{raw_contract_markdown()}{CONTRACT_END}{tail}"


def write_docs(root: Path) -> None:
    """Regenerate docs/tables.md and the README's raw contract section under ``root`` (the repository)."""
    (root / "docs" / "tables.md").write_text(tables_markdown())
    readme = root / "README.md"
    readme.write_text(with_contract_section(readme.read_text()))


if __name__ == "__main__":  # pragma: no cover
    write_docs(Path(__file__).resolve().parents[1])
