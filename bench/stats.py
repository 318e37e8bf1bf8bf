"""Small statistics and the result record every workload returns."""

import statistics
from dataclasses import asdict, dataclass


@dataclass
class Figure:
    """One measured figure with its target and, where a peer exists, the peer's figure."""

    workload: str
    name: str
    value: float | None
    unit: str
    target: str
    met: bool | None
    peer: float | None = None
    ratio: float | None = None  # ours / peer, or peer / ours for lower-is-better figures
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
