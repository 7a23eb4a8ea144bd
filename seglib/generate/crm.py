"""CRM change log (several versions per customer, some ending deleted) and consent history, with fake PII."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.generate.calendar import SECONDS_PER_DAY, History
from seglib.generate.profiles import (
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    CONSENT_PURPOSES,
    FIRST_NAMES,
    GENDERS,
    INCOME_BANDS,
    INDUSTRIES,
    JOB_TITLES,
    LAST_NAMES,
    PLANS,
    by_segment,
    choose_by_segment,
    cum_by_segment,
)
from seglib.generate.rand import Rng, cumulative, lit_array, pick, weighted_index

MAX_VERSIONS = 3
EMAIL_CHANGE_SHARE = 0.3
MOVE_SHARE = 0.25
PLAN_CHANGE_SHARE = 0.2
CONSENT_CHANGE_SHARE = 0.2
UPGRADE_ACTIVITY_SLOPE = 1.0  # upgrade probability x (1 + slope z), z the subject's activity draw, clipped to [0, 2.5]
CONSENT_GRANT = {"analytics": 0.92, "personalization": 0.8}


def first_name(rng: Rng) -> Column:
    return pick(rng.u("first_name", "subject_idx"), FIRST_NAMES)


def last_name(rng: Rng) -> Column:
    return pick(rng.u("last_name", "subject_idx"), LAST_NAMES)


def email(rng: Rng, changed: Column | None = None) -> Column:
    """``first.lastN@example.com``; a changed address uses a different number."""
    n = F.floor(rng.u("email_n", "subject_idx") * 90).cast("int") + 1
    if changed is not None:
        n = n + F.when(changed, F.lit(100)).otherwise(F.lit(0))
    return F.concat(first_name(rng), F.lit("."), last_name(rng), n.cast("string"), F.lit("@example.com"))


def phone(rng: Rng) -> Column:
    """``+CC NNN NNN NNNN`` with the country's calling code."""
    digits = [
        F.floor(rng.u(f"phone{i}", "subject_idx") * scale).cast("int") for i, scale in enumerate((900, 1000, 10000))
    ]
    return F.format_string("+%d %03d %03d %04d", F.col("calling_code"), digits[0] + 100, digits[1], digits[2])


def _postal_code(rng: Rng, moved: Column) -> Column:
    u = rng.u("postal", "subject_idx", moved.cast("int"))
    gb = F.format_string(
        "%s%d %d%s",
        pick(u, ("SW", "EC", "M", "B", "LS", "G")),
        F.floor(u * 19).cast("int") + 1,
        F.floor(u * 97).cast("int") % 9 + 1,
        pick(rng.u("postal2", "subject_idx"), ("AA", "AB", "BD", "XY")),
    )
    digits = F.format_string("%05d", F.floor(u * 99_000).cast("int") + 1000)
    return (
        F.when(F.col("country") == "GB", gb)
        .when(F.col("country") == "NL", F.concat(F.substring(digits, 1, 4), F.lit(" AB")))
        .otherwise(digits)
    )


def _company(rng: Rng) -> dict[str, Column]:
    """Company columns: large firms for b2b users, a few small firms for others, else null."""
    b2b = F.col("segment") == "b2b_power_user"
    has_company = b2b | (rng.u("has_company", "subject_idx") < 0.08)
    name = F.concat(
        F.initcap(pick(rng.u("company", "subject_idx"), COMPANY_WORDS)),
        F.lit(" "),
        pick(rng.u("suffix", "subject_idx"), COMPANY_SUFFIXES),
    )
    large = F.floor(F.exp(F.lit(6.2) + rng.u("size", "subject_idx") * 4.6))  # ~500..50k
    small = F.floor(F.lit(1) + rng.u("size", "subject_idx") * 50)
    return {
        "company_name": F.when(has_company, name),
        "company_size": F.when(has_company, F.when(b2b, large).otherwise(small)).cast("int"),
        "industry": F.when(has_company, pick(rng.u("industry", "subject_idx"), INDUSTRIES)),
        "job_title": F.when(has_company, pick(rng.u("job", "subject_idx"), JOB_TITLES)),
    }


def crm_customers(subject_df: DataFrame, history: History, rng: Rng) -> DataFrame:
    """Change log: 1-3 versions per customer (email, address, plan changes), plus a deleted version for some."""
    code = F.col("seg")
    n_versions = F.lit(1) + F.floor(rng.u("versions", "subject_idx") * MAX_VERSIONS).cast("int")
    total = n_versions + F.col("is_deleted").cast("int")
    base_sec = F.col("signup_day") * SECONDS_PER_DAY + rng.u("signup_time", "subject_idx") * 43_200
    last_sec = F.lit(history.days * SECONDS_PER_DAY - 3600)

    def version_sec(k: Column) -> Column:
        spread = (last_sec - base_sec) * (k + rng.u("updated", "subject_idx", k) * 0.9) / total
        return F.when(k == 0, base_sec).otherwise(base_sec + spread)

    # Planted upgrades (the upgrade propensity target): customers who are never deleted and not on the top plan move
    # one plan up at an instant drawn uniformly over their part of the history, with a probability of their segment's
    # share scaled by their own activity (the log-normal jitter of seglib.generate.subjects: more active subjects
    # upgrade more, which their events show). The move is a CRM version of its own, with the attributes of the
    # version in force then; every later version keeps the higher plan.
    first_plan = weighted_index(rng.u("plan", "subject_idx", F.lit(False)), cum_by_segment(code, lambda p: p.plan_mix))
    keen = F.least(F.greatest(F.lit(1.0) + UPGRADE_ACTIVITY_SLOPE * rng.normal("activity", "subject_idx"), F.lit(0.0)),
                   F.lit(2.5))  # fmt: skip
    upgrader = (
        ~F.col("is_deleted")
        & (first_plan < len(PLANS) - 1)
        & (rng.u("upgrade", "subject_idx") < by_segment(code, lambda p: p.upgrade_share) * keen)
    )
    start = F.greatest(base_sec, F.lit(0))
    upgrade_sec = F.when(upgrader, start + (last_sec - start) * rng.u("upgrade_time", "subject_idx"))
    in_force = sum(
        (F.when((F.lit(k) < n_versions) & (version_sec(F.lit(k)) <= upgrade_sec), 1).otherwise(0))
        for k in range(MAX_VERSIONS)
    )
    row = F.col("_row")
    is_upgrade_row = row >= total
    v = F.col("version")
    row_sec = F.when(is_upgrade_row, upgrade_sec).otherwise(version_sec(v))
    upgraded = F.when(row_sec >= upgrade_sec, F.element_at(lit_array(PLANS), first_plan + 2))
    age_lo = by_segment(code, lambda p: p.age_range[0])
    age_hi = by_segment(code, lambda p: p.age_range[1])
    age_days = (age_lo + rng.u("age", "subject_idx") * (age_hi - age_lo)) * 365.25
    plan_draw = rng.u("plan", "subject_idx", (v >= 1) & (rng.u("plan_change", "subject_idx") < PLAN_CHANGE_SHARE))
    gender = F.when(
        rng.u("gender_known", "subject_idx") < 0.95,
        F.element_at(
            lit_array(GENDERS),
            weighted_index(rng.u("gender", "subject_idx"), lit_array(cumulative((0.49, 0.49, 0.02)))) + 1,
        ),
    )
    columns = {
        "customer_id": F.col("customer_id"),
        "email": email(rng, (v >= 1) & (rng.u("email_change", "subject_idx") < EMAIL_CHANGE_SHARE)),
        "phone": phone(rng),
        "first_name": F.initcap(first_name(rng)),
        "last_name": F.initcap(last_name(rng)),
        "birth_date": F.date_sub(F.lit(history.last_day), age_days.cast("int")),
        "gender": gender,
        "country": F.col("country"),
        "postal_code": _postal_code(rng, (v >= 2) & (rng.u("moved", "subject_idx") < MOVE_SHARE)),
        "income_band": choose_by_segment(code, rng.u("income", "subject_idx"), INCOME_BANDS, lambda p: p.income_mix),
        "signup_date": F.col("signup_date"),
        **_company(rng),
        "plan": F.coalesce(upgraded, choose_by_segment(code, plan_draw, PLANS, lambda p: p.plan_mix)),
        "updated_at": history.ts(row_sec),
        "is_deleted": F.col("is_deleted") & (row == total - 1),
    }
    rows = F.sequence(F.lit(0), total - 1 + upgrader.cast("int"))
    return (
        subject_df.where(F.col("is_customer"))
        .withColumn("_row", F.explode(rows))
        .withColumn("version", F.when(row >= total, in_force - 1).otherwise(row))
        .select(*[c.alias(name) for name, c in columns.items()])
    )


def consents(subject_df: DataFrame, history: History, rng: Rng) -> DataFrame:
    """Consent log per subject and purpose; some later flips (latest wins); anonymous ids for cookie consent."""
    customers = (
        subject_df.where(F.col("is_customer"))
        .withColumn("subject_id", F.col("customer_id"))
        .withColumn("purpose", F.explode(lit_array(CONSENT_PURPOSES)))
        .withColumn("first_sec", F.col("signup_day") * SECONDS_PER_DAY + rng.u("consent_t", "subject_idx") * 43_200)
    )
    cookie_purposes = F.when(F.col("is_customer"), lit_array(["analytics"])).otherwise(lit_array(CONSENT_PURPOSES[:2]))
    anonymous = (
        subject_df.where(~F.col("is_customer") | F.col("link_sec").isNotNull())
        .withColumn("subject_id", F.col("anonymous_id"))
        .withColumn("purpose", F.explode(cookie_purposes))
        .withColumn("first_sec", F.col("win_start") * SECONDS_PER_DAY + rng.u("consent_t", "subject_idx") * 43_200)
    )
    keys = ("subject_id", "purpose")
    grant_p = F.coalesce(
        F.element_at(
            F.create_map(*[x for k, p in CONSENT_GRANT.items() for x in (F.lit(k), F.lit(p))]), F.col("purpose")
        ),
        by_segment(F.col("seg"), lambda p: p.marketing_consent),
    )
    first_grant = rng.u("granted", *keys) < grant_p
    v = F.col("version")
    later = F.col("first_sec") + (F.lit(history.days * SECONDS_PER_DAY - 3600) - F.col("first_sec")) * (
        F.lit(0.05) + rng.u("consent_change_t", *keys) * 0.9
    )
    n_versions = F.when(rng.u("consent_change", *keys) < CONSENT_CHANGE_SHARE, 2).otherwise(1)
    return (
        customers.unionByName(anonymous)
        .withColumn("version", F.explode(F.sequence(F.lit(0), n_versions - 1)))
        .select(
            "subject_id",
            "purpose",
            F.when(v == 0, first_grant).otherwise(~first_grant).alias("granted"),
            history.ts(F.when(v == 0, F.col("first_sec")).otherwise(later)).alias("updated_at"),
        )
    )
