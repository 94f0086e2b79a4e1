"""greenroom: health-gated blue-green deploys behind nginx that never move a default gateway."""

__version__ = "0.1.0"
