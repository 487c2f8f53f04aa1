"""Separation minima (SPEC section 2, `policy`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Policy:
    """The separation minima two parties' declarations must keep."""

    horizontal_m: float = 1000.0
    """H: least horizontal distance, metres, between what two declarations may occupy."""
    vertical_m: float = 300.0
    """V: least vertical gap, metres, between two declarations' altitude bands."""

    def __post_init__(self) -> None:
        if not (self.horizontal_m > 0 and self.horizontal_m < 1e6):
            raise ValueError("policy horizontal_m must be a number above 0 and below 1,000 km")
        if not (self.vertical_m >= 0 and self.vertical_m < 1e5):
            raise ValueError("policy vertical_m must be a number from 0 to 100 km")
