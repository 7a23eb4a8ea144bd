"""PII minimisation of CRM customers into the silver contract: bands and prefixes instead of identifiers.

Dropped: customer_id (replaced by its pseudonym), email, phone, first/last name, exact birth date, full postal code,
company name, job title and any other column not in the silver contract.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.privacy.keys import KeyRing
from seglib.privacy.pseudonymize import pseudonym

UNKNOWN = "unknown"

SILVER_CUSTOMER_COLUMNS = (
    "subject_id",
    "age_band",
    "gender",
    "country",
    "region",
    "postal_prefix",
    "income_band",
    "signup_date",
    "company_size_band",
    "industry",
    "plan",
    "is_b2b",
    "updated_at",
)

# (lower bound inclusive, label); ages above 120 or birth dates after as_of are "unknown".
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (0, "under_18"),
    (18, "18-24"),
    (25, "25-34"),
    (35, "35-44"),
    (45, "45-54"),
    (55, "55-64"),
    (65, "65+"),
)
MAX_PLAUSIBLE_AGE = 120

COMPANY_SIZE_BANDS: tuple[tuple[int, str], ...] = (
    (1, "1-9"),
    (10, "10-49"),
    (50, "50-249"),
    (250, "250-999"),
    (1000, "1000+"),
)

# ISO-3166 alpha-2 -> coarse region; unmapped codes are "other", null/blank is "unknown".
REGIONS: dict[str, str] = {
    "europe": "AT BE BG CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LT LU LV MT NL NO PL PT RO SE SI SK UA",
    "north_america": "CA US MX",
    "latin_america": "AR BO BR CL CO EC PE PY UY VE",
    "asia_pacific": "AU CN HK ID IN JP KR MY NZ PH SG TH TW VN",
    "middle_east_africa": "AE EG IL KE MA NG QA SA TR ZA",
}


def age_in_years(birth_date: Column, as_of: date | Column) -> Column:
    """Completed years at as_of, a date or a date column (a 29 Feb birthday is reached on 1 Mar in non-leap
    years)."""
    ref = as_of if isinstance(as_of, Column) else F.lit(as_of)
    before_birthday = (F.month(ref) < F.month(birth_date)) | (
        (F.month(ref) == F.month(birth_date)) & (F.dayofmonth(ref) < F.dayofmonth(birth_date))
    )
    return F.year(ref) - F.year(birth_date) - F.when(before_birthday, 1).otherwise(0)


def age_band(birth_date: Column, as_of: date | Column) -> Column:
    """Age band at as_of; null, future or implausible birth dates give "unknown"."""
    age = age_in_years(birth_date, as_of)
    band = F.when(birth_date.isNull() | (age < 0) | (age > MAX_PLAUSIBLE_AGE), F.lit(UNKNOWN))
    for lower, label in reversed(AGE_BANDS):
        band = band.when(age >= lower, F.lit(label))
    return band.otherwise(F.lit(UNKNOWN))


def region(country: Column) -> Column:
    """Coarse region of an ISO-3166 alpha-2 country code."""
    code = F.upper(F.trim(country))
    pairs = [F.lit(x) for name, codes in REGIONS.items() for c in codes.split() for x in (c, name)]
    return F.when(code.isNull() | (code == ""), F.lit(UNKNOWN)).otherwise(
        F.coalesce(F.create_map(*pairs)[code], F.lit("other"))
    )


def postal_prefix(postal_code: Column, length: int = 2) -> Column:
    """First characters of the postal code (upper-cased, spaces removed); null when blank."""
    compact = F.upper(F.regexp_replace(postal_code.cast("string"), r"\s+", ""))
    return F.when(F.length(compact) > 0, F.substring(compact, 1, length))


def is_b2b(company_name: Column, company_size: Column) -> Column:
    """A customer is business when it names a company or has a positive company size."""
    named = F.coalesce(F.length(F.trim(company_name)) > 0, F.lit(False))
    sized = F.coalesce(company_size > 0, F.lit(False))
    return named | sized


def company_size_band(company_size: Column, b2b: Column) -> Column:
    """Employee-count band; "none" for consumers, "unknown" for businesses without a size."""
    band = F.when(~b2b, F.lit("none")).when(company_size.isNull() | (company_size <= 0), F.lit(UNKNOWN))
    for lower, label in reversed(COMPANY_SIZE_BANDS):
        band = band.when(company_size >= lower, F.lit(label))
    return band


def _col_or_null(df: DataFrame, name: str, dtype: str) -> Column:
    return F.col(name) if name in df.columns else F.lit(None).cast(dtype)


def _minimised(crm: DataFrame, key_ring: KeyRing, age_at: date | Column) -> dict[str, Column]:
    """The silver contract's columns of CRM rows (ages at ``age_at``) by name; the caller adds its time columns."""
    b2b = is_b2b(_col_or_null(crm, "company_name", "string"), F.col("company_size"))
    return {
        "subject_id": pseudonym(F.col("customer_id"), key_ring),
        "age_band": age_band(F.col("birth_date"), age_at),
        "gender": F.col("gender"),
        "country": F.upper(F.trim(F.col("country"))),
        "region": region(F.col("country")),
        "postal_prefix": postal_prefix(F.col("postal_code")),
        "income_band": F.col("income_band"),
        "signup_date": F.col("signup_date").cast("date"),
        "company_size_band": company_size_band(F.col("company_size"), b2b),
        "industry": F.col("industry"),
        "plan": F.col("plan"),
        "is_b2b": b2b,
    }


def _is_deleted(crm: DataFrame) -> Column:
    return F.coalesce(_col_or_null(crm, "is_deleted", "boolean"), F.lit(False))


def minimise_customers(crm_latest_df: DataFrame, key_ring: KeyRing, as_of: date) -> DataFrame:
    """Latest CRM rows (one per customer) -> silver customers without direct identifiers (ingest adds run_id)."""
    columns = _minimised(crm_latest_df, key_ring, as_of)
    return (
        crm_latest_df.where(~_is_deleted(crm_latest_df))
        .select(*[c.alias(name) for name, c in columns.items()], F.col("updated_at"))
        .where(F.col("subject_id").isNotNull())
    )


def minimise_customer_versions(crm_versions: DataFrame, key_ring: KeyRing) -> DataFrame:
    """CRM versions (one row per customer and updated_at) -> minimised states with ``valid_from`` (the version
    time) and ``is_deleted``. Ages are as of the version time, so a replay never sees a later birthday; a deletion
    keeps no attribute."""
    deleted = _is_deleted(crm_versions)
    columns = _minimised(crm_versions, key_ring, F.to_date(F.col("updated_at")))
    subject = columns.pop("subject_id")
    return crm_versions.select(
        subject.alias("subject_id"),
        *[F.when(~deleted, c).alias(name) for name, c in columns.items()],
        F.col("updated_at").alias("valid_from"),
        deleted.alias("is_deleted"),
    ).where(F.col("subject_id").isNotNull())
