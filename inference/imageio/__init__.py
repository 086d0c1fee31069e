"""Reading and writing images, Qt-free, one module per concern:

    formats     what is read (by content, through READ_FORMATS only) and written, limits, errors
    reading     read_header, load_image -> LoadedImage: (h, w, 3) float32 in [0, 1] + notes
    png_checks  a PNG whose data stops short of its header's rows is refused, not padded
    pixels      the one conversion to float and the one rounding rule back to 8 / 16 bits
    writing     check_output, save_image (format from the extension)
    atomic      atomic_file: temporary file, fsync, rename (images and checkpoints)
    metadata    the key/value record written with an image, and read_metadata
    encoders    our own 16-bit PNG and TIFF writers (Pillow has none)

    loaded = load_image("photo.jpg")
    save_image("out.png", rgb, bits=16, metadata={"Method": "LIIF"})
    read_metadata("out.png")                # -> {"Method": "LIIF"}

Loading never shows a traceback: every failure is an `ImageLoadError` whose
message names the file and the problem. Pixels are checked against
`MAX_PIXELS` from the header, before anything is decoded.
"""

from .atomic import atomic_file
from .encoders import write_png, write_tiff
from .formats import (
    ALPHA_BACKGROUND,
    FORMATS,
    MAX_PIXELS,
    READ_FORMATS,
    READ_FORMATS_TEXT,
    SOFTWARE,
    ImageLoadError,
    ImageSaveError,
)
from .identify import identify_foreign
from .metadata import read_metadata
from .pixels import quantise, to_rgb8
from .reading import ImageHeader, LoadedImage, load_image, load_rgb8, read_header
from .writing import check_output, holds_alpha, output_format, save_image

__all__ = [
    "ALPHA_BACKGROUND",
    "FORMATS",
    "MAX_PIXELS",
    "READ_FORMATS",
    "READ_FORMATS_TEXT",
    "SOFTWARE",
    "ImageHeader",
    "ImageLoadError",
    "ImageSaveError",
    "LoadedImage",
    "atomic_file",
    "check_output",
    "holds_alpha",
    "identify_foreign",
    "load_image",
    "load_rgb8",
    "output_format",
    "quantise",
    "read_header",
    "read_metadata",
    "save_image",
    "to_rgb8",
    "write_png",
    "write_tiff",
]
