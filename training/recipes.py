"""How each method is trained: the papers' recipes, the decoder-only schedule
on a frozen encoder, and the learning rate as a pure function of the step
(halved every `halve_every` steps, after a linear warm-up), so that no
scheduler state needs saving.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Recipe:
    """How a method is trained. Defaults are LIIF's (methods.md, "Training recipe")."""

    paper: str
    batch: int = 16
    learning_rate: float = 1e-4
    halve_every: int = 200_000          # iterations between learning-rate halvings
    total_steps: int = 1_000_000        # 1000 epochs of 1000 iterations
    scale_min: float = 1.0              # s ~ U(scale_min, scale_max) ...
    scale_max: float = 4.0
    scales: tuple[float, ...] = ()      # ... unless a discrete set is given
    target: str = "points"              # "points": sampled HR pixels; "lattice": whole HR crops
    lr_patch: int = 48                  # points: LR side; the HR crop is round(lr_patch * s)
    samples: int = 2304                 # points: target pixels per sample
    hr_crop: int = 192                  # lattice: HR crop side (the LR side is floor(hr_crop / s))
    warmup: int = 0                     # steps of linear learning-rate warm-up from 0


# Each method's recipe: LIIF's unless its paper says otherwise.
RECIPES: dict[str, Recipe] = {
    # LIIF (Chen et al., CVPR 2021, Sec. 4.1): s ~ U(1, 4), 48x48 LR, 2304 pixels,
    # batch 16, Adam 1e-4 halved every 200 epochs of 1000 iterations, 1000 epochs.
    "liif": Recipe(paper="LIIF, Chen et al. 2021, Sec. 4.1 (methods.md: Training recipe)"),
    # IPE-LIIF (001, "Training and inference details"): the same as LIIF.
    "ipe-liif": Recipe(paper="IPE-LIIF, Liu et al., Sec. 5 'Training and inference details': as LIIF"),
    # DIINN (000, Sec. 4.2): s in {2, 3, 4} for every HR image, 4 HR images per
    # minibatch -> 12 LR/HR pairs; 48s x 48s crops; Adam 1e-4 halved every 200 epochs.
    "diinn": Recipe(paper="DIINN, Nguyen & Beksi, Sec. 4.2: s in {2,3,4}, 4 images x 3 scales = 12 pairs",
                    batch=12, scales=(2.0, 3.0, 4.0)),
    # LIIF-SIREN (004, Sec. 4.3): lr halved every 120 epochs, 600 epochs.
    "liif-siren": Recipe(paper="LIIF+SIREN, Jiang, Sec. 4.3: lr halved every 120 epochs, 600 epochs",
                         halve_every=120_000, total_steps=600_000),
    # A-LIIF (003, Sec. 4.2 / methods.md): as LIIF with batch 8.
    "a-liif": Recipe(paper="A-LIIF, Li et al., Sec. 4.2: as LIIF, batch 8", batch=8),
    # DIIF (002, Sec. 4.1): s from {2, 2.5, 3, 3.5, 4} per iteration, 192x192 HR
    # crops decoded whole, flips and 90-degree rotations, batch 16, lr halved every 2e5.
    "diif": Recipe(paper="DIIF, He & Jin, Sec. 4.1: s in {2,...,4} step 0.5 per iteration, 192x192 HR crops",
                   scales=(2.0, 2.5, 3.0, 3.5, 4.0), target="lattice"),
}


# Training a decoder alone on a frozen, already trained encoder converges with
# a higher rate than the papers' joint training from scratch (measured:
# ../shared/reference/training-notes.md, Adam 1e-4 / 5e-4 / 1e-3 at 1,680 steps
# gave 29.73 / 30.26 / 30.78 dB on Set5 x4), and warm-started layers need a short
# warm-up so that Adam's first steps do not throw them away. The schedule is
# shortened to what CPU training can reach (~10,000 steps per method): past
# ~1,500 steps 5e-4 only makes the weights wander. Measured on IPE-LIIF from
# its step-1,500 state, 90 more steps at 5e-4 / 2e-4 / 1e-4 gave 31.73 /
# 32.04 / 32.06 dB on Set5 x4 (benchmarks/results/lr-ab-2026-12-01.md).
DECODER_ONLY = {"learning_rate": 5e-4, "halve_every": 1_000, "total_steps": 10_000, "warmup": 200}
DECODER_ONLY_BY_METHOD: dict[str, dict[str, Any]] = {
    # DIIF decodes whole HR crops; 192^2 (the paper's) is 16x LIIF's 2304 sampled
    # pixels per sample. On the frozen encoder 96^2 keeps a DIIF step as cheap as a
    # LIIF step while still holding several slices per LR pixel at every scale.
    "diif": {"hr_crop": 96},
    # Sine layers (w0 = 30) amplify every weight step: from its step-1,464 state,
    # 76 steps at 5e-4 / 1e-4 reached a loss of 0.102 / 0.055 on the same
    # batches and 25.32 / 28.82 dB on Set5 x4.
    "liif-siren": {"learning_rate": 1e-4},
}


def recipe_for(method: str, frozen_encoder: bool = False) -> Recipe:
    """The method's paper recipe; with `frozen_encoder`, with the decoder-only schedule."""
    if method not in RECIPES:
        raise KeyError(f"no training recipe for {method!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[method]
    if frozen_encoder:
        recipe = replace(recipe, paper=recipe.paper + "; decoder only on the frozen LIIF-release encoder",
                         **{**DECODER_ONLY, **DECODER_ONLY_BY_METHOD.get(method, {})})
    return recipe


def with_overrides(recipe: Recipe, **overrides: Any) -> Recipe:
    """The recipe with the given fields replaced (None leaves one as is)."""
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def learning_rate(recipe: Recipe, step: int) -> float:
    """The rate for iteration `step` (0-based): a linear warm-up over `warmup`
    steps, then halved every `halve_every`."""
    ramp = min(1.0, (step + 1) / recipe.warmup) if recipe.warmup > 0 else 1.0
    return recipe.learning_rate * ramp * 0.5 ** (step // recipe.halve_every)

