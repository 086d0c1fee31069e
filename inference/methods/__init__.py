"""Every implicit method, one file each. Importing this package registers them."""

from . import liif  # noqa: F401
