"""How far a reported accuracy can be trusted: its sample size, its Wilson 95% interval and
warnings about test splits too small to say much.

A run that got 2 of 2 test images right reports 100%, and one that got 1,050 of 1,400 right
reports 75%; the intervals (34-100% and 73-77%) show that the second is the better-known
model, which is why lists rank runs by the interval's lower bound. Records written before
the interval was kept still read: their interval is worked out from the accuracy and the
number of test images, and where that number is missing too the text says "n unknown".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from galaxy_studio.model.metrics import wilson_interval

MIN_TEST_IMAGES = 20


@dataclass(frozen=True)
class AccuracyEstimate:
    """An accuracy as measured: the fraction right, the number of images and the 95% interval.
    Each is None where the record does not say."""

    value: float | None
    n: int | None
    ci95: tuple[float, float] | None

    @classmethod
    def of(cls, metrics: Mapping[str, Any] | None) -> AccuracyEstimate:
        """The accuracy of a metrics record (metrics.json, an evaluation report), old or new."""
        metrics = metrics or {}
        value = _fraction(metrics.get("accuracy"))
        n = metrics.get("n")
        n = n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None
        stored = metrics.get("accuracy_ci95")
        ci95: tuple[float, float] | None = None
        if isinstance(stored, (list, tuple)) and len(stored) == 2:
            low, high = _fraction(stored[0]), _fraction(stored[1])
            ci95 = (low, high) if low is not None and high is not None else None
        elif value is not None and n:
            ci95 = wilson_interval(min(n, round(value * n)), n)
        return cls(value, n, ci95)

    @property
    def lower_bound(self) -> float | None:
        return None if self.ci95 is None else self.ci95[0]

    def text(self, digits: int = 1) -> str:
        """E.g. "75.0% (n=210, 95% CI 68.7–80.4%)"; "75.0% (n unknown)" for an old record."""
        if self.value is None:
            return "–" if self.n is None else f"– (n={self.n:,})"
        point = f"{100 * self.value:.{digits}f}%"
        if self.n is None:
            return f"{point} (n unknown)"
        if self.ci95 is None:
            return f"{point} (n={self.n:,})"
        low, high = (f"{100 * bound:.{digits}f}" for bound in self.ci95)
        return f"{point} (n={self.n:,}, 95% CI {low}–{high}%)"


def mean_accuracy_text(mean: float, std: float, n: int | None, *, digits: int = 1) -> str:
    """The mean accuracy of several nets tested on the same `n` images, with their spread and
    the 95% interval the `n` test images allow: "70.0% ± 2.0% (n=210, 95% CI 63–76%)". The
    spread says how much the nets differ; the interval how much a test split that small can
    say, which no number of nets narrows."""
    interval = AccuracyEstimate.of({"accuracy": mean, "n": n}).text(digits=0)
    return f"{100 * mean:.{digits}f}% ± {100 * std:.{digits}f}% {interval[interval.index('(') :]}"


def sample_warnings(metrics: Mapping[str, Any], images: str = "test") -> list[str]:
    """Why the accuracy of `metrics` says little: fewer than MIN_TEST_IMAGES `images` images,
    or classes without a single one (their recall was never measured)."""
    warnings = []
    estimate = AccuracyEstimate.of(metrics)
    if estimate.n is not None and estimate.n < MIN_TEST_IMAGES:
        count = (
            f"no {images} image" if estimate.n == 0 else f"only {estimate.n} {images} image" + "s" * (estimate.n > 1)
        )
        warnings.append(
            f"{count} (fewer than {MIN_TEST_IMAGES}): too few to trust or compare the accuracy; label more images"
        )
    per_class = metrics.get("per_class") or {}
    missing = [name for name, stats in per_class.items() if not stats.get("support")]
    if missing and estimate.n:
        them = "it" if len(missing) == 1 else "them"
        warnings.append(f"no {images} image of class {', '.join(missing)}: the accuracy says nothing about {them}")
    return warnings


def _fraction(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        return None
    return float(value)
