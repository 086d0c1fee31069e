"""The folders the viewer proposes for the user's files (exports, Upscale
Folder, File › Open): the last one used, else the image's own folder where
that makes sense, else the platform's Pictures folder, else home; never a
folder inside the installed package (its bundled sample lives there). The
choice is plain Python (`app.settings.user_folder`); this asks Qt where
Pictures is."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths

import resources


def package_folders() -> list[Path]:
    """The folders of the installed application: nothing of the user's is proposed there."""
    import app

    return [resources.path(), Path(app.__file__).resolve().parent.parent]


def pictures_folder() -> str:
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)


def propose(*candidates: str | Path | None) -> Path:
    """The first usable of `candidates`, else Pictures, else home (app.settings.user_folder)."""
    from app.settings import user_folder

    return user_folder([*candidates, pictures_folder()], package_folders(), Path.home())
