"""A strategy module whose import fails (a missing dependency): the loader must say StrategyNotFound."""

from __future__ import annotations

import quantops_no_such_dependency  # type: ignore[import-not-found]  # the point of this module

Broken = quantops_no_such_dependency.Strategy
