"""Session-wide test settings: hypothesis profiles.

`dev` (default) keeps a local run quick; `ci` (selected when CI=true) runs several times
more examples. HYPOTHESIS_PROFILE=name picks one explicitly.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=60, deadline=None, print_blob=True)
settings.register_profile("ci", max_examples=600, deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")
)
