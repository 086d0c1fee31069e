"""Bring your own model: a user's fixed-scale super-resolution network file
(anything spandrel recognises: ESRGAN / Real-ESRGAN RRDBNet, Compact, SwinIR,
HAT, ...) as an `Upscaler`. Needs the optional extra: pip install -e '.[models]'.

    up = load_external_model("RealESRGAN_x4plus.pth", device="auto")
    up.decode(up.encode(image), region, (w, h))   # any rectangle, any zoom
    up.label_for(3.7), up.details(), up.metadata()
"""

from .loader import INSTALL_HINT, ExternalModelError, Recognised, recognise
from .upscaler import DEFAULT_MAX_MARGIN, EXACT_FAMILIES, ExternalUpscaler, KeptImage, load_external_model

__all__ = [
    "DEFAULT_MAX_MARGIN", "EXACT_FAMILIES", "INSTALL_HINT", "ExternalModelError", "ExternalUpscaler", "KeptImage",
    "Recognised", "load_external_model", "recognise",
]
