"""What the viewer knows about each method and how it names it: display
names, "(untrained)" / "(in training)" marks, tooltips, the pickers' entries,
the methods dialog's rows, and which methods new panes start with.

No Qt: the window hands these strings to its widgets. The registry is asked
lazily and a broken method file never keeps the viewer from opening.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inference.registry import BASELINE

GROUND_TRUTH_LABEL = "Ground truth"
GROUND_TRUTH_TOOLTIP = "The opened image itself (reference mode): what the methods try to recover"
BICUBIC_TOOLTIP = "Bicubic interpolation (Pillow's kernel): the baseline"
MAX_PANES = 8


def discover_methods(methods: list[str] | None) -> tuple[list[str], str]:
    """The methods offered (`methods` when given, else the registry's) and a
    message when the registry failed and only bicubic is left."""
    if methods is not None:
        return list(methods), ""
    try:
        from inference.catalog import all_methods

        return all_methods(), ""
    except Exception as error:  # noqa: BLE001 - a broken method file must not keep the viewer from opening
        return [BASELINE], f"Only {BASELINE} is available: the method registry failed to load ({error})"


def _ground_truth() -> str:
    from inference.reference import GROUND_TRUTH

    return GROUND_TRUTH


def shipped_status(name: str) -> str:
    try:
        from inference.catalog import shipped_status as status

        return status(name)
    except Exception:  # noqa: BLE001 - a broken method registration must not break the window
        return "untrained"


@dataclass
class MethodBook:
    """The methods offered and the weights the render worker reported for them."""

    names: list[str]
    weights_known: dict[str, Any] = field(default_factory=dict)  # method -> WeightsInfo the worker loaded
    weights_paths: dict[str, str] = field(default_factory=dict)  # method -> file loaded through File › Load Weights
    inspected: dict[str, tuple[Any, str]] = field(default_factory=dict)  # method -> (WeightsInfo or None, problem)

    def forget_loaded(self) -> None:
        """The worker restarted: what it had loaded is loaded again and reported anew."""
        self.weights_known.clear()
        self.inspected.clear()

    def display_name(self, name: str) -> str:
        if name == _ground_truth():
            return GROUND_TRUTH_LABEL
        try:
            from inference.catalog import display_name

            return display_name(name)
        except Exception:  # noqa: BLE001 - a broken method registration must not break the window
            return name

    def pane_name(self, name: str, zoom: float | None = None) -> str:
        """A pane label's method: the display name; a user's model file says its
        native scale and, away from it, that its output is resampled to `zoom`."""
        from inference import user_models

        if user_models.is_user_model(name):
            return user_models.label_for(name, zoom) if zoom is not None else user_models.get(name).display
        return self.display_name(name)

    def add_model(self, name: str) -> bool:
        """Offer a user's model file (loaded by the worker); False when it already is."""
        if name in self.names:
            return False
        self.names.append(name)
        return True

    def is_untrained(self, name: str) -> bool:
        if name in self.weights_known:
            return not self.weights_known[name].trained
        if name.startswith("ground"):
            return False
        try:
            from inference.catalog import is_interpolation

            return not is_interpolation(name) and shipped_status(name) != "trained"
        except Exception:  # noqa: BLE001 - a broken method registration must not break the window
            return True

    def label(self, name: str) -> str:
        """The picker's text: the display name, marked when the weights are not a result."""
        label = self.display_name(name)
        if not self.is_untrained(name):
            return label
        in_training = (self.weights_known[name].in_training if name in self.weights_known
                       else shipped_status(name) == "in training")
        return f"{label} (in training)" if in_training else f"{label} (untrained)"

    def tooltip(self, name: str) -> str:
        if name in self.weights_known:
            return f"{self.display_name(name)}: {self.weights_known[name].summary}"
        if name == BASELINE:
            return BICUBIC_TOOLTIP
        try:
            from inference import catalog

            if catalog.is_interpolation(name):
                return f"{catalog.display_name(name)}: {catalog.paper(name)}"
            status = {"trained": "shipped weights",
                      "in training": "shipped weights, in training (below the trained floor)"}.get(
                shipped_status(name), "untrained: random weights")
            return f"{catalog.display_name(name)}: {catalog.paper(name)}\n{status}"
        except Exception:  # noqa: BLE001 - a broken method registration must not break the window
            return name

    def entries(self, reference: bool) -> list[tuple[str, str, str]]:
        """(name, label, tooltip) of every method a picker offers; the ground truth too in reference mode."""
        entries = [(name, self.label(name), self.tooltip(name)) for name in self.names]
        if reference:
            entries.append((_ground_truth(), GROUND_TRUTH_LABEL, GROUND_TRUTH_TOOLTIP))
        return entries

    def learned(self) -> list[str]:
        """The offered methods that have weights (a name the registry does not know counts as learned)."""
        from inference.catalog import is_interpolation

        return [m for m in self.names if not is_interpolation(m)]

    def default_panes(self, saved: Any) -> list[str]:
        """The panes of a first launch: those saved (if still offered), else bicubic beside a learned method."""
        if isinstance(saved, str):
            saved = [saved]
        if isinstance(saved, list):
            names = [str(n) for n in saved if str(n) in self.names][:MAX_PANES]
            if names:
                return names
        learned = self.learned()
        return [BASELINE, learned[0]] if learned else self.names[:1]

    def for_new_pane(self, used: set[str]) -> str:
        """A new pane is for comparing decoders: the first learned method not shown yet."""
        learned = self.learned()
        order = learned + [m for m in self.names if m not in learned]
        return next((m for m in order if m not in used), self.names[0])

    def rows(self) -> list[Any]:
        """What Help › Methods and Weights shows, from the weights the worker loaded."""
        from app.model.method_rows import method_row, model_row
        from inference import catalog, user_models

        rows = []
        for name in self.names:
            if user_models.is_user_model(name):
                entry = user_models.get(name)
                problem = self.inspected.get(name, (None, ""))[1]
                rows.append(model_row(name, entry.display, str(entry.path), entry.details, problem))
                continue
            interpolation = catalog.is_interpolation(name)  # False for a name the registry does not know
            try:
                paper = catalog.paper(name)
                expected = None if interpolation else catalog.expected_weights(name)
            except KeyError:  # a method the registry does not know (tests' own names)
                paper, expected = "", None
            weights, problem = self.inspected.get(name, (self.weights_known.get(name), ""))
            rows.append(method_row(name, self.display_name(name), paper, interpolation=interpolation,
                                   weights=weights, expected=expected, loaded_from=self.weights_paths.get(name),
                                   problem=problem, checked=name in self.inspected or name in self.weights_known))
        return rows
