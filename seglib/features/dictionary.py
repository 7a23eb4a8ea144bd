"""Documentation of every feature column: Delta column comments and docs/data_dictionary.md come from here."""

from __future__ import annotations

from pathlib import Path

from seglib.config.features import FeaturesConfig
from seglib.features._time import column_suffix
from seglib.features.events import DAYPARTS

W = "over the 90 days before the snapshot cut-off (as_of 00:00 UTC)"
MONEY = "double (exact decimal(18,2) sum of silver net_amount, cast to double for ML)"


def _key() -> dict[str, str]:
    return {
        "subject_id": "Pseudonymous subject key (customer pseudonym, or anonymous pseudonym when never identified).",
        "snapshot_date": "Snapshot date as_of; only data strictly before as_of 00:00 UTC was used.",
    }


def _rfm(cfg: FeaturesConfig) -> dict[str, str]:
    out = {
        "recency_days": "Days from the UTC date of the last completed order to snapshot_date; null if none ever.",
    }
    for w in (30, 90, 365):
        out[f"frequency_{w}d"] = f"Completed orders (one order row = one order) in the last {w} days; 0 if none."
    for w in (30, 90, 365):
        out[f"monetary_{w}d"] = f"Net revenue (refunds netted) of all orders in the last {w} days, {MONEY}; 0 if none."
    out["aov_365d"] = "Average order value: monetary_365d / frequency_365d; null without completed orders in 365 days."
    if cfg.rfm.enabled:
        n = cfg.rfm.score_bins
        cuts = (
            f"approximate quantile cut points over buyers (approxQuantile, relative rank error "
            f"{cfg.rfm.quantile_relative_error:g}); a value equal to a cut point does not pass it"
        )
        out |= {
            "r_score": f"Recency score 1..{n}: 1 + the cut points the recency is strictly below, {cuts}; 1 without "
            "completed orders. Thresholds are in the column metadata and returned with the run.",
            "f_score": f"Frequency score 1..{n}: 1 + the cut points frequency_365d is strictly above, {cuts}; 1 "
            "without completed orders.",
            "m_score": f"Monetary score 1..{n}: 1 + the cut points monetary_365d is strictly above, {cuts}.",
            "rfm_cell": "Concatenated scores r,f,m, e.g. '545'.",
            "rfm_score": "Weighted sum of r_score, f_score and m_score (weights in features.rfm).",
        }
    return out


def _lifetime(cfg: FeaturesConfig) -> dict[str, str]:
    out = {
        "tenure_days": "Days from the first known date (signup_date, first order, first event in lookback) to "
        "snapshot_date; null when none is known (a subject with texts only).",
        "clv_historical": f"Historical CLV: net revenue of all orders before the cut-off, {MONEY}; 0 if none.",
    }
    if cfg.lifetime.enabled:
        out["clv_bracket"] = (
            f"Label of clv_historical: brackets {cfg.lifetime.clv_bracket_labels} with inclusive upper edges "
            f"{cfg.lifetime.clv_bracket_edges}."
        )
    return out


def _btyd(cfg: FeaturesConfig) -> dict[str, str]:
    b = cfg.btyd
    fit = (
        f"of a BG/NBD fitted on the completed orders before the cut-off of the snapshot's buyers ({b.period}ly "
        "purchase periods, seglib.features.bgnbd, shared with the CLV stage); null without a completed order before "
        "the cut-off, and for everyone "
        f"when no fit is possible (fewer than {b.min_buyers} buyers, no repeat purchase, no convergence)"
    )
    return {
        "btyd_p_alive": f"Probability the buyer is still active (P(alive | x, t_x, T)), in (0, 1], {fit}.",
        "btyd_expected_purchases": f"Expected purchase {b.period}s in the {b.horizon_days} days after the cut-off, "
        f">= 0, {fit}.",
        "recency_gap_ratio": "Days since the last completed order's day / the subject's mean days between its order "
        "days ((last - first) / (order days - 1)); above 1: overdue; null with fewer than two order days.",
    }


def _activity() -> dict[str, str]:
    return {
        "events_90d": f"Events {W}; 0 if none.",
        "sessions_90d": f"Distinct sessions {W}; 0 if none.",
    }


def _engagement(cfg: FeaturesConfig) -> dict[str, str]:
    out = {
        "page_views_90d": f"page_view events {W}; 0 if none.",
        "email_opens_90d": f"email_open events {W}; 0 if none.",
        "email_clicks_90d": f"email_click events {W}; 0 if none.",
        "avg_days_between_sessions_90d": "(last - first event instant in the 90 days) / (sessions_90d - 1) in days; "
        "null with fewer than 2 sessions.",
        "email_open_rate_90d": "email opens per week over the 90 days (the contract has no e-mail send events); 0 if "
        "none.",
        "email_click_rate_90d": "Click-to-open rate: email_clicks_90d / email_opens_90d capped at 1; null without "
        "opens.",
        "engagement_trend": "(events last 30 days - events previous 30 days) / their sum, in [-1, 1]; 0 when both 0.",
    }
    for cat in cfg.engagement.categories:
        out[f"affinity_{column_suffix(cat)}"] = (
            f"Share of the subject's categorised events {W} whose content_category is '{cat}'; 0 if none."
        )
    weights = ", ".join(f"{k}={v}" for k, v in cfg.engagement.index_weights.items())
    out["engagement_index"] = (
        f"Weighted mean in [0,1] of inputs each divided by its population "
        f"{cfg.engagement.index_normalisation_quantile} quantile (approximate: percentile_approx, relative rank "
        f"error 1e-4) and capped at 1 (weights: {weights}); a null input (e.g. email_click_rate_90d without opens) "
        "counts as 0."
    )
    return out


def _behaviour(cfg: FeaturesConfig) -> dict[str, str]:
    b = cfg.behaviour
    return {
        "product_views_90d": f"product_view events {W}; 0 if none.",
        "searches_90d": f"search events {W}; 0 if none.",
        "support_tickets_90d": f"support_ticket events {W}; 0 if none.",
        "feature_uses_90d": f"feature_use events {W}; 0 if none.",
        "onboarding_completed": f"1 if a signup event was followed by feature_use or purchase within "
        f"{b.onboarding_window_days} days (before the cut-off), 0 if not; null without a signup event.",
        "cart_abandonment_rate_90d": f"Share of add_to_cart/checkout events {W} not followed by a purchase within "
        f"{b.cart_window_hours} hours; only events whose window closed strictly before the cut-off count; null if "
        "none.",
        "browse_depth_90d": "product_views_90d / sessions_90d; null without sessions.",
        "searches_per_session_90d": "searches_90d / sessions_90d; null without sessions.",
        "feature_uses_per_week_90d": "feature_uses_90d per week of the 90-day window; 0 if none.",
    }


def _context(cfg: FeaturesConfig) -> dict[str, str]:
    out = {}
    for d in cfg.context.devices:
        out[f"device_share_{column_suffix(d)}"] = f"Share of events {W} on device '{d}'; null without events."
    for c in cfg.context.channels:
        out[f"channel_share_{column_suffix(c)}"] = f"Share of events {W} from channel '{c}'; null without events."
    for name, (lo, hi) in DAYPARTS.items():
        out[f"daypart_share_{name}"] = (
            f"Share of events {W} between {lo:02d}:00 and {hi:02d}:00 UTC; null without events."
        )
    out["weekday_share"] = f"Share of events {W} on Monday-Friday (UTC); null without events."
    out["country"] = "CRM country when known, else the most frequent event country in the lookback; null if neither."
    return out


def _demographics() -> dict[str, str]:
    crm = "from the CRM history as of the snapshot (silver customers_history); null without a CRM row then"
    return {
        "age_band": f"Age band (no exact birth date is kept) {crm}.",
        "gender": f"Gender {crm}.",
        "income_band": f"Income band {crm}.",
        "company_size_band": f"Company size band (firmographic) {crm}.",
        "industry": f"Industry (firmographic) {crm}.",
        "plan": f"Subscription plan {crm}.",
        "plan_tier": "Position of `plan` in features.demographics.plan_order (0 = lowest); null without a plan.",
        "region": f"Region derived from the customer's country by ingest, {crm}.",
        "is_b2b": f"True for business customers, {crm}.",
    }


def _psychographics(cfg: FeaturesConfig) -> dict[str, str]:
    p = cfg.psychographics
    out = {"text_count": "Texts (survey, support ticket, review) written before the cut-off; 0 if none."}
    for name, words in p.interests.items():
        out[f"interest_{name}"] = (
            f"Share of the subject's interest-matched words that belong to '{name}' ({len(words)} taxonomy terms, "
            "conf/interests.yaml); 0 when no text or no interest word."
        )
    out["sentiment_score"] = (
        "Lexicon sentiment in [-1, 1], null without texts. Engine builtin: (pos - neg) / (pos + neg) over the "
        "lexicon words of all texts, 0 when none. Engine sparknlp: (positive texts - negative texts) / (positive + "
        "negative texts) by the sign of Spark NLP SentimentDetector's score (lemmas, negation flips a sentence), 0 "
        "when none. The engine is the table property seglib.text_engine."
    )
    out["top_keywords"] = (
        "Up to 5 keywords found in most of the subject's texts (ties alphabetical); null without texts. Engine "
        "sparknlp: YAKE keywords (1-2 lemmas) per text; engine builtin: the text's words and bigrams without stop "
        "words."
    )
    if p.lda.enabled:
        for i in range(p.lda.k):
            out[f"topic_{i}"] = (
                f"Mean LDA (seed {p.lda.seed}) weight of topic {i} over the subject's texts; null without texts."
            )
    return out


def feature_column_comments(cfg: FeaturesConfig | None = None) -> dict[str, str]:
    """Ordered column -> comment for the feature table this config produces (the output's column order)."""
    cfg = cfg or FeaturesConfig()
    out = _key() | _rfm(cfg) | _lifetime(cfg)
    if cfg.btyd.enabled:
        out |= _btyd(cfg)
    out |= _activity()
    if cfg.engagement.enabled:
        out |= _engagement(cfg)
    if cfg.behaviour.enabled:
        out |= _behaviour(cfg)
    out |= _context(cfg) if cfg.context.enabled else {"country": _context(cfg)["country"]}
    if cfg.demographics.enabled:
        out |= _demographics()
    if cfg.psychographics.enabled:
        out |= _psychographics(cfg)
    return out


FEATURE_COLUMN_COMMENTS: dict[str, str] = feature_column_comments()


def data_dictionary_markdown(cfg: FeaturesConfig | None = None) -> str:
    comments = feature_column_comments(cfg)
    lines = [
        "# Feature table data dictionary",
        "",
        "Generated by `seglib.features.write_data_dictionary` from `FEATURE_COLUMN_COMMENTS` (default config); "
        "do not edit by hand.",
        "One row per subject currently consenting to `privacy.required_consent` (default `analytics`) per "
        "`snapshot_date`; point-in-time correct: only rows "
        "strictly before `snapshot_date` 00:00 UTC are used. A CRM customer counts when signed up before "
        "`snapshot_date` (without a signup date: last updated before the cut-off); its CRM attributes are those valid "
        "at the cut-off in silver `customers_history` (SCD type 2), so a past snapshot sees the plan of that time.",
        "",
        "| column | description |",
        "|---|---|",
    ]
    lines += [f"| `{col}` | {text.replace('|', '/')} |" for col, text in comments.items()]
    return "\n".join(lines) + "\n"


def write_data_dictionary(path: str | Path = "docs/data_dictionary.md", cfg: FeaturesConfig | None = None) -> Path:
    """Write the markdown data dictionary (one table row per feature column)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(data_dictionary_markdown(cfg))
    return target
