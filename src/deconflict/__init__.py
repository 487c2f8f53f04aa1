"""deconflict: deconfliction protocols as software.

Parties declare movements, sites and zones; the engine finds every spatio-temporal
conflict between their plans (see SPEC.md sections 2-3).
"""

__version__ = "0.1.0"
