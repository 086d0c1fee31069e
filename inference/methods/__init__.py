"""Every implicit method, one file each. Importing this package registers them."""

# Registration order is the order the viewer and `main.py methods` list them in:
# keep it, do not sort.
# ruff: noqa: I001

from . import liif  # noqa: F401
from . import ipe_liif  # noqa: F401
from . import diinn  # noqa: F401
from . import liif_siren  # noqa: F401
from . import aliif  # noqa: F401
from . import diif  # noqa: F401
