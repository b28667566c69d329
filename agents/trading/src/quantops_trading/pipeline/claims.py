"""Work-item claims: several pipeline replicas share one queue of strategies without doubling work.

Why it exists: the operator scales the pipeline Deployment from the queue length the replicas
report; extra replicas only help if they take *different* strategies. Before evaluating a
strategy a replica claims it (on Kubernetes a Lease per strategy, ``qp-claim-<name>``; holder,
renew time, duration, last holder). :func:`may_claim` is the whole rule:

* no claim yet, or the claim is this replica's own → take it;
* held by another replica and not expired (``renewed + duration`` in the future) → skip (it is
  being evaluated there; a crashed holder's claim expires);
* released by another replica less than ``fresh`` seconds ago → skip (done this round);
* otherwise → take it (optimistic: a concurrent taker loses on the resourceVersion check).

One replica is never slowed down by its own claims ("mine" always wins).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClaimView", "may_claim"]


@dataclass(frozen=True)
class ClaimView:
    holder: str | None
    renewed: float
    duration: float
    last_holder: str | None = None


def may_claim(view: ClaimView | None, me: str, now: float, fresh: float) -> tuple[bool, str]:
    if view is None:
        return True, "unclaimed"
    if view.holder == me:
        return True, "already mine"
    age = now - view.renewed
    if view.holder and age < view.duration:
        return False, f"being evaluated by {view.holder}"
    if not view.holder and view.last_holder not in (None, me) and age < fresh:
        return False, f"evaluated by {view.last_holder} {age:.0f}s ago"
    return True, "expired" if view.holder else "free"
