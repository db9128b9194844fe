"""pricewise: pricing research workspace and reference-class estimation."""

__version__ = "0.1.0"
