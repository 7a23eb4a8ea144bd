"""The champion gate's policy, pure and testable: does a newly registered model version replace the champion?

The MLflow side (reading the champion's gate metrics from its version tags, setting the alias) is
``seglib.tracking.promote_if_better``; every model family's gate is a list of :class:`GateRule` in its
``<family>.registry.champion_gate`` (clustering, propensity, clv, segments.classifier).
"""

from __future__ import annotations

from dataclasses import dataclass

from seglib.config.registry import GateRule

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    champion_version: str | None = None

    @property
    def alias(self) -> str:
        return CHAMPION if self.promoted else CHALLENGER


def gate_decision(
    rules: list[GateRule],
    metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    champion_version: str | None = None,
    rules_key: str = "clustering.registry.champion_gate",
) -> GateDecision:
    """Pure decision: does a new version with ``metrics`` replace the champion (``None``: there is none)?

    Every rule must pass: the optional absolute floor, then (unless ``against_champion`` is off) "not worse than the
    champion by more than tolerance".
    ``rules_key`` is the config key the rules come from, named in the error when a rule reads a metric the model's
    run does not report.
    """
    missing = sorted({r.metric for r in rules} - set(metrics))
    if missing:
        raise ValueError(
            f"{rules_key} uses metric(s) {missing} that this model does not report (reported: {sorted(metrics)})"
        )
    failures, notes = [], []
    for rule in rules:
        value, sign = metrics[rule.metric], 1.0 if rule.higher_is_better else -1.0
        if rule.minimum is not None and sign * (value - rule.minimum) < 0:
            failures.append(f"{rule.metric}={value:.4f} beyond the limit {rule.minimum}")
            continue
        best = (champion_metrics or {}).get(rule.metric)
        if best is None or not rule.against_champion:
            continue
        if sign * (value - best) < -rule.tolerance:
            failures.append(f"{rule.metric}={value:.4f} worse than champion's {best:.4f} by more than {rule.tolerance}")
        else:
            notes.append(f"{rule.metric}={value:.4f} vs champion's {best:.4f} (tolerance {rule.tolerance})")
    if failures:
        return GateDecision(False, "; ".join(failures), champion_version)
    if champion_metrics is None:
        return GateDecision(True, "no current champion", None)
    return GateDecision(True, "; ".join(notes) or "passes every gate", champion_version)


__all__ = ["CHALLENGER", "CHAMPION", "GateDecision", "gate_decision"]
