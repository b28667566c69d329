"""One writer per trader Agent, on the real API server: a second pod cannot send.

Two WriterLease holders (two pods of one trader) race for `<agent>-writer`; the one that does not
hold it is refused by the risk gateway right before the venue call. Time is injected: the takeover
after an expired holder, and the old holder's own expiry, are driven by fake clocks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from controlplane import ControlPlane

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.execution.types import OrderIntent, OrderType, Side, VenueOrder
from quantops_trading.risk import RiskGateway
from quantops_trading.risk.book import OrderRequest
from quantops_trading.runtime.control import KubeControl, KubeCredentials
from quantops_trading.runtime.singleton import WriterLease

from .conftest import get, unique

pytestmark = pytest.mark.cluster


class Clocks:
    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += dt.timedelta(seconds=seconds)


class NeverSends:
    venue = "sim"
    sent = 0

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        self.sent += 1
        raise AssertionError("a pod that is not the writer reached the venue")


def _request() -> OrderRequest:
    intent = OrderIntent(
        strategy_id="momo",
        intent_id="i1",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        price=Decimal("60000"),
    )
    return OrderRequest(intent, Decimal("60000"), expected_edge_bps=1000)


def _lease(plane: ControlPlane, ns: str, holder: str, clocks: Clocks) -> WriterLease:
    creds = KubeCredentials(plane.server, plane.token, str(plane.ca_file), ns)
    control = KubeControl(creds, "trader", holder, [])
    return WriterLease(
        control, "trader", holder, duration_seconds=15, clock=lambda: clocks.mono, wall=lambda: clocks.wall
    )


def test_only_the_lease_holder_may_send_and_an_expired_holder_is_taken_over(
    crds_installed: ControlPlane,
) -> None:
    plane = crds_installed
    ns = unique("writer")
    plane.kubectl("create", "namespace", ns)

    async def scenario() -> None:
        a_clock, b_clock = Clocks(), Clocks()
        a, b = _lease(plane, ns, "trader-pod-a", a_clock), _lease(plane, ns, "trader-pod-b", b_clock)
        try:
            assert await a.try_acquire() and a.blocked() is None
            assert not await b.try_acquire()
            assert b.blocked() == "writer lease trader-writer is held by trader-pod-a"
            # the gateway of pod b asks right before the venue call, and refuses
            venue = NeverSends()
            gw = RiskGateway(venue, RiskPolicySpec(), send_guard=b.blocked)
            d = await gw.submit(_request())
            assert d.action == "denied" and d.reasons[0][0] == "writer" and venue.sent == 0
            assert gw.denials[-1].rule == "writer"
            # a renews: still its own; b still out
            a_clock.advance(5)
            assert await a.try_acquire() and not await b.try_acquire()
            # a is cut off (stops renewing): after duration - margin it stops sending by itself...
            a_clock.advance(13)
            assert a.blocked() is not None
            # ...and only once the lease expired by the stored renewTime may b take it over
            b_clock.advance(5 + 16)
            assert await b.try_acquire() and b.blocked() is None
            lease = get(plane, ns, "lease", "trader-writer")
            assert lease is not None
            assert lease["spec"]["holderIdentity"] == "trader-pod-b"
            assert lease["spec"]["leaseTransitions"] == 1
            # a comes back: it sees b holding a fresh lease and stays out
            assert not await a.try_acquire() and a.blocked() is not None
            # a graceful stop releases at once: the next pod need not wait out the duration
            await b.release()
            assert await a.try_acquire() and a.blocked() is None
        finally:
            await a.control.close()
            await b.control.close()

    asyncio.run(scenario())
