"""Stage ``clv``: BG/NBD + Gamma-Gamma trained, judged on a holdout in time and gated; the snapshot scored."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import read_table, write_table
from seglib.errors import RequiredFamilyError
from seglib.run_types import ClvResult, FamilyCheck, RunContext
from seglib.stages.inputs import read_silver
from seglib.tables import CLV_FAMILY, Warehouse, table

log = logging.getLogger(__name__)


def _train_clv(cfg: SeglibConfig, orders: DataFrame, summary: DataFrame, as_of: date):
    """Fit at the calibration cut-off, judge on the holdout after it, refit on ``summary`` (as_of), log, register and
    gate: (version, alias, holdout metrics, the holdout table by frequency). ClvError when a fit is refused."""
    from datetime import timedelta

    from seglib.modeling import clv as C
    from seglib.modeling.clv_model import ClvParameters
    from seglib.tracking import log_clv

    c = cfg.clv
    calibration_cutoff = as_of - timedelta(days=c.holdout_days)
    calibration = C.btyd_summary(orders, calibration_cutoff, c.period).persist()
    try:
        validation = C.fit_models(calibration, c)
        comparison = C.holdout_comparison(orders, calibration_cutoff, as_of, validation.bgnbd.params, c, calibration)
    finally:
        calibration.unpersist()
    log.info("clv holdout %s..%s: predicted %.0f vs actual %.0f purchase %ss (%+.1f%%), r = %.3f, MAE %.3f",
             calibration_cutoff, as_of, comparison.predicted_total, comparison.actual_total, c.period,
             100 * comparison.relative_error, comparison.correlation, comparison.mae)  # fmt: skip
    models = C.fit_models(summary, c)
    fitted = ClvParameters(models.bgnbd.params, models.spend.params, c.period, c.horizon_days, c.annual_discount_rate)
    registered = log_clv(cfg, models, validation, comparison, fitted)
    return registered.model_version, registered.alias, comparison.flat(""), comparison.by_frequency


def stage_clv(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, train: bool = True) -> ClvResult:
    """Predicted CLV. Train: BG/NBD + Gamma-Gamma fitted at the calibration cut-off (as_of - clv.holdout_days) and
    judged on the purchases of the holdout after it, then refitted on every order before as_of and registered (the
    alias gated on the holdout comparison). Score: the champion's parameters predict every consenting buyer of the
    snapshot into models/clv_predictions (one commit per snapshot)."""
    from seglib.features import consented_subjects
    from seglib.modeling import clv as C
    from seglib.tracking import clv_model_name, load_clv_parameters

    c = cfg.clv
    silver = read_silver(spark, cfg)
    # A revoked consent removes the subject from fitting and scoring, as from the features.
    consented = consented_subjects(silver["consents"], cfg.privacy.required_consent)
    orders = silver["orders"].join(consented, "subject_id", "left_semi")
    name = clv_model_name(cfg)
    trained = alias = None
    holdout: dict[str, float] = {}
    by_frequency: list[dict[str, Any]] = []
    summary = C.btyd_summary(orders, ctx.as_of, c.period).persist()  # fit, predictions and the join read it
    refused = None
    if train:
        try:
            trained, alias, holdout, by_frequency = _train_clv(cfg, orders, summary, ctx.as_of)
        except C.ClvError as e:  # refused, as the stage must: the champion (if any) still scores the snapshot
            refused = str(e)
            log.error("clv: the new fit is refused, nothing registered: %s", e)
    try:
        parameters, scored_version = load_clv_parameters(name)
    except LookupError as e:
        log.error("clv NOT scored: %s", e)
        summary.unpersist()
        return ClvResult(name, trained, alias, None, refused, holdout, by_frequency, {}, {}, {})
    if parameters.period != c.period:
        summary.unpersist()
        raise C.ClvError(f"{name} v{scored_version} counts {parameters.period}s but clv.period is {c.period}: "
                         "retrain (seg clv train) or set clv.period to the champion's")  # fmt: skip
    predictions = C.predict_clv(summary, parameters.bgnbd, parameters.spend, c, parameters.horizon_days)
    predictions = predictions.persist()  # read by the quantiles and the write
    thresholds = C.bracket_thresholds(predictions, c.brackets)
    constants = {
        "snapshot_date": F.lit(ctx.as_of),
        "period": F.lit(parameters.period),
        "horizon_days": F.lit(parameters.horizon_days),
        "model_name": F.lit(name),
        "model_version": F.lit(scored_version),
        "run_id": F.lit(ctx.run_id),
    }
    out = table("models", "clv_predictions").conform(C.with_clv_brackets(predictions, thresholds), constants)
    spec = Warehouse.of(cfg).spec("models/clv_predictions")
    write_table(out, spec, mode="overwrite", replace_where=f"snapshot_date = DATE'{ctx.as_of.isoformat()}'")
    sizes = {r["clv_bracket"]: r["n"] for r in read_table(spark, spec.location)
             .where(F.col("snapshot_date") == F.lit(ctx.as_of)).groupBy("clv_bracket").agg(F.count("*").alias("n"))
             .collect()}  # fmt: skip
    predictions.unpersist()
    summary.unpersist()
    params = {f"bgnbd_{k}": v for k, v in vars(parameters.bgnbd).items()}
    spend = "gamma_gamma" if parameters.spend_method == "mle" else parameters.spend_method
    params |= {f"{spend}_{k}": v for k, v in vars(parameters.spend).items()}
    log.info("clv scored by %s v%s (spend: %s): brackets %s (thresholds %s)", name, scored_version,
             parameters.spend_method, sizes, thresholds)  # fmt: skip
    return ClvResult(name, trained, alias, scored_version, refused, holdout, by_frequency, params, thresholds, sizes,
                     parameters.spend_method)  # fmt: skip


def clv_skipped(cfg: SeglibConfig, clv: ClvResult) -> list[FamilyCheck]:
    """The CLV family's skip, if any: a refused new fit (the champion, if any, still scored), or nothing scored (a
    first fit that failed the gate). A new fit that only lost to the champion is the gate at work, not a skip."""
    reasons = []
    if clv.refused:
        reasons.append(f"the new fit was refused ({clv.refused})")
    if not clv.scored_version:
        if clv.trained_version and not clv.refused:
            h = clv.holdout
            reasons.append(f"the new fit v{clv.trained_version} failed clv.registry.champion_gate (holdout: "
                           f"{h.get('relative_error', float('nan')):+.1%} predicted against actual purchases, "
                           f"per-subject r = {h.get('correlation', float('nan')):.3f})")  # fmt: skip
        reasons.append(f"not scored: {clv.model_name} has no champion")
    elif clv.refused:
        reasons.append(f"scored by the champion v{clv.scored_version}")
    if not reasons:
        return []
    reason = "clv: " + "; ".join(reasons)
    if cfg.clv.required:
        raise RequiredFamilyError(f"clv is required: {reason}")
    return [FamilyCheck(CLV_FAMILY, "skipped", reason)]
