"""Reconciliation (75), kill-between-submit-and-ack recovery, and TTL auto-cancel (76)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from decimal import Decimal

from exec_support import intent, make_connector, rig, venue_orders

from quantops_trading.execution.reconcile import Ledger, cancel_expired, reconcile
from quantops_trading.execution.types import OrderStatus
from quantops_trading.venue.testing import API_KEY, API_SECRET, running_venue


async def test_partial_fills_converge_without_double_counting() -> None:
    async with rig() as r:
        book = await r.client.fetch_order_book("BTC/USDT")
        ask = book.asks[0][0]
        o = await r.conn.submit(intent("pf", qty="2.5", price=str(ask)))
        assert o.status is OrderStatus.OPEN and 0 < o.filled < Decimal("2.5")  # partially filled
        ledger = Ledger()
        ledger.record_order(o)
        first = await reconcile(r.conn, ledger, ["BTC/USDT"])
        assert first.new_fills and ledger.filled(o.venue_order_id) == o.filled
        for _ in range(40):  # the real replay moves; the resting remainder may fill as maker
            await r.ctl.step(10_000)
            await reconcile(r.conn, ledger, ["BTC/USDT"])
        venue = r.sim.engine.orders[int(o.venue_order_id)]
        assert ledger.filled(o.venue_order_id) == venue.executed
        again = await reconcile(r.conn, ledger, ["BTC/USDT"])
        assert again.new_fills == [] and again.mismatches == []
        fresh = Ledger()  # restart with nothing: rebuilt from the venue, same totals
        await reconcile(r.conn, fresh, ["BTC/USDT"])
        assert fresh.position("BTC/USDT") == ledger.position("BTC/USDT") == venue.executed


async def test_finalises_orders_that_left_the_book() -> None:
    async with rig() as r:
        o = await r.conn.submit(intent("gone"))
        ledger = Ledger()
        ledger.record_order(o)
        await r.client.cancel_order("BTC/USDT", venue_order_id=o.venue_order_id)  # behind our back
        report = await reconcile(r.conn, ledger, ["BTC/USDT"])
        assert report.finalised == [o.client_order_id]
        assert ledger.orders[o.client_order_id].status is OrderStatus.CANCELED
        assert ledger.working() == []


CRASHING_CLIENT = textwrap.dedent(
    """
    import asyncio, sys
    from decimal import Decimal
    from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance
    from quantops_trading.execution.connector import ConnectorConfig, VenueConnector
    from quantops_trading.execution.types import OrderIntent

    async def main(url: str) -> None:
        client = CcxtExecutionClient(make_binance(url, sys.argv[2], sys.argv[3], timeout_ms=60000), "sim")
        conn = VenueConnector(client, config=ConnectorConfig(warmup_heartbeats=1, warmup_interval_s=0))
        await conn.start()
        print("started", flush=True)
        await conn.submit(OrderIntent(strategy_id="s1", intent_id="crash", symbol="BTC/USDT", side="buy",
                                      type="limit", quantity=Decimal("0.01"), price=Decimal("60000")))
        print("acked", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_process_killed_between_submit_and_ack_then_restart_reconciles_to_one_order() -> None:
    async with running_venue() as sim:
        from quantops_trading.venue.config import FaultRule

        sim.faults.add(FaultRule(kind="slow_ack", path="/api/v3/order", method="POST", delay_s=2.0))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CRASHING_CLIENT, sim.url, API_KEY, API_SECRET,
            stdout=asyncio.subprocess.PIPE, env=os.environ.copy(),
        )  # fmt: skip
        assert proc.stdout is not None
        for _ in range(400):  # wait until the venue has accepted the order
            if sim.engine.orders:
                break
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # dies after submit, before the ack arrives
        out = (await proc.stdout.read()).decode()
        await proc.wait()
        assert "started" in out and "acked" not in out
        sim.faults.remove()

        conn, client = make_connector(sim.url, "sim")  # the restarted process
        try:
            await conn.start()
            ledger = Ledger()
            report = await reconcile(conn, ledger, ["BTC/USDT"])
            the_intent = intent("crash")
            cid = conn.client_id_for(the_intent)
            assert report.adopted == [cid]
            again = await conn.submit(the_intent)  # re-drive the intent: duplicate → adopted
            assert again.client_order_id == cid
            assert venue_orders(sim, cid) == 1 and len(sim.engine.orders) == 1
        finally:
            await client.close()


async def test_ttl_cancels_only_old_working_orders() -> None:
    async with rig() as r:
        ledger = Ledger()
        old = await r.conn.submit(intent("old"))
        young = await r.conn.submit(intent("young", price="59000"))
        ledger.record_order(old, now_ms=1_000)
        ledger.record_order(young, now_ms=50_000)
        report = await cancel_expired(r.conn, ledger, ttl_ms=30_000, now_ms=60_000)
        assert report.cancelled == [old.client_order_id]
        assert ledger.orders[old.client_order_id].status is OrderStatus.CANCELED
        statuses = {o.client_id: o.status for o in r.sim.engine.orders.values()}
        assert statuses == {old.client_order_id: "CANCELED", young.client_order_id: "NEW"}
        await r.client.cancel_order("BTC/USDT", client_order_id=young.client_order_id)  # behind our back
        late = await cancel_expired(r.conn, ledger, ttl_ms=30_000, now_ms=90_000)
        assert late.already_done == [young.client_order_id]
