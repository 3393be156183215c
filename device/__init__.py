"""cutbox: a capture box that cuts out product photos where they are taken."""

__version__ = "0.1.0"
