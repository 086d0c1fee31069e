"""What a method's weights are: where they came from (`WeightsInfo`) and
whether they count as trained (the trained floor, read from the metrics a
weights file stores about itself). Plain data: no torch, no model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A learned method counts as trained when its file's own measured Y-PSNR on
# Set5 x4 is at least bicubic's (28.43 dB here, methods.md) + 2.5 dB.
FLOOR_METRIC = "psnr_y/Set5/x4"
TRAINED_FLOOR_DB = 28.43 + 2.5


def meets_trained_floor(metrics: Any) -> bool:
    """Whether a checkpoint's stored metrics show it is trained (never more
    than the file itself claims: no measured figure, not trained)."""
    value = metrics.get(FLOOR_METRIC) if isinstance(metrics, dict) else None
    return isinstance(value, (int, float)) and value >= TRAINED_FLOOR_DB


@dataclass
class WeightsInfo:
    """Where a method's weights came from. `trained` is False for random init
    and for weights still in training (a file whose own measured Set5 x4 PSNR
    is below the floor, or that was never evaluated)."""

    trained: bool
    source: str = "none"
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def in_training(self) -> bool:
        """Weights from a file that does not (yet) meet the trained floor, or
        that carries no measured figure to show it does."""
        return not self.trained and self.source != "none"

    @property
    def summary(self) -> str:
        if self.in_training:
            provenance = self.provenance if isinstance(self.provenance, dict) else {}
            measured = self.metrics.get(FLOOR_METRIC) if isinstance(self.metrics, dict) else None
            if not isinstance(measured, (int, float)):
                trained_on = f", trained on {provenance['data']}" if provenance.get("data") else ""
                return f"{self.source}{trained_on}: not evaluated here (no measured Set5 x4 PSNR in the file)"
            done = f"{provenance['steps']} steps, " if provenance.get("steps") else ""
            return (f"in training ({done}{measured:.2f} dB on Set5 x4; trained means >= {TRAINED_FLOOR_DB:.2f} dB): "
                    f"output is not a result")
        if not self.trained:
            return "untrained (random weights: output is not a result)"
        steps = self.provenance.get("steps")
        data = self.provenance.get("data")
        bits = [self.source]
        if data:
            bits.append(f"trained on {data}")
        if steps:
            bits.append(f"{steps} steps")
        return ", ".join(bits)
