"""The strategic engine: index declarations, find every conflict (SPEC section 3)."""

from deconflict.engine.strategic import Engine

__all__ = ["Engine"]
