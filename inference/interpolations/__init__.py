"""The interpolations: Upscalers that resample the image itself, with no
weights and no decoder (bicubic, the baseline, and nearest). Importing this
package registers them (inference/registry.py)."""

# Registration order is the order they are listed in: bicubic (the baseline) first.
# ruff: noqa: I001

from . import bicubic  # noqa: F401
from . import nearest  # noqa: F401
