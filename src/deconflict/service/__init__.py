"""The service: the protocol of SPEC section 4 over the store, the engine and the event
hub. Knows nothing of HTTP; the API and the CLI call it with a `Principal` and plain data.
"""

from deconflict.service.auth import OPERATOR_PRINCIPAL, Principal
from deconflict.service.core import Service, Settings

__all__ = ["OPERATOR_PRINCIPAL", "Principal", "Service", "Settings"]
