"""The viewer without Qt (napari's components/ beside its Qt layer): state
and rules that tests drive without a window. Never imports Qt."""

from app.model.methods import MAX_PANES, MethodBook, discover_methods
from app.model.sides import SideState, SideStatus, side_status
from app.model.viewer import SIDES, ExportPlan, MetricsRequest, PaneState, ViewerModel

__all__ = ["MAX_PANES", "SIDES", "ExportPlan", "MethodBook", "MetricsRequest", "PaneState", "SideState", "SideStatus",
           "ViewerModel", "discover_methods", "side_status"]
