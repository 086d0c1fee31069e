"""Run by tests/test_round_three.py under QT_SCALE_FACTOR=N: shows an image at
zoom 1 with `nearest` and prints how many of the pane's device pixels in the
image area differ from the image's own pixels (0: no blur from rounding), and whether the window's
default size fitted the screen."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.view_area import image_area
    from inference.render import to_display
    from tests.gui_helpers import write_png
    from tests.tiny_methods import sample_image, tiny_loader

    app = QApplication.instance() or QApplication(sys.argv)
    folder = Path(tempfile.mkdtemp())
    rgb = sample_image(37, 53, seed=3)
    path = write_png(folder / "probe.png", rgb)
    window = MainWindow(device="cpu", loader=tiny_loader(), methods=["nearest"], panes=["nearest"],
                        settings=QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat), tile=64)
    fits = window.screen().availableGeometry().contains(window.geometry())  # the default size, clamped
    window.resize(301, 257)  # odd logical sizes: fractional device sizes at 1.5
    window.show()
    done: list[bool] = []
    window.openFinished.connect(lambda _p, ok: done.append(ok))
    window.open_path(path)
    while not done:
        app.processEvents()
    window.set_zoom(1.0)

    def settled() -> bool:
        return all(s.sides["a"].state == "done" for s in window.slots()) and window.queue_length() == 0

    for _ in range(20000):
        app.processEvents()
        if settled():
            break
    pane = window.slots()[0].pane
    area = image_area(pane.lattice(), 53, 37)
    assert area is not None
    shot = pane.view_image().convertToFormat(pane.view_image().Format.Format_RGB888)
    x, y, w, h = area
    lat = pane.lattice()
    buf = np.frombuffer(shot.constBits(), np.uint8).reshape(shot.height(), shot.bytesPerLine())
    shown = buf[:, : shot.width() * 3].reshape(shot.height(), shot.width(), 3)[y:y + h, x:x + w]
    u, v = int(lat.u0) + x, int(lat.v0) + y  # lattice index = image pixel at zoom 1
    expected = to_display(rgb)[v:v + h, u:u + w]
    print(f"dpr={pane.devicePixelRatioF()} zoom={window.model.view.zoom} area={area} "
          f"differ={int((shown != expected).any(axis=2).sum())} fits={fits}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
