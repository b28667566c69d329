"""kopf wiring only, one module per Kind; importing this package registers every handler."""

from quantops_operator import settings  # noqa: F401
from quantops_operator.controllers import agent, gates, riskpolicy, strategy  # noqa: F401
