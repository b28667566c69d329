"""An in-process venue for the non-candle lane: the live RiskGateway in front of the venue
simulator's MatchingEngine, over a recorded book, with the lane's order log.

Why it exists: the event lane must judge and fill orders exactly as a live agent's orders are
judged (every rule and kill switch of :class:`~quantops_trading.risk.gateway.RiskGateway`) and
filled (book walking, lot/tick rounding, fees and balances of
:class:`~quantops_trading.venue.matching.MatchingEngine`) — with no HTTP in between, so a backtest
of hours of L2 runs in seconds. The gateway's port is a null port: the engine fills in-process.

What it must not do: decide what to trade (the strategy does) or reach a network.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import numpy as np

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.backtest.events import BookArrays
from quantops_trading.backtest.types import BacktestConfig, BacktestOrder
from quantops_trading.execution.types import Fill, OrderIntent, OrderType, Side, VenueOrder
from quantops_trading.risk.book import OrderRequest
from quantops_trading.risk.events import AuditSink
from quantops_trading.risk.gateway import RiskGateway
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.venue.books import MarketData, ReplayClock
from quantops_trading.venue.config import ApiKey, SymbolConfig, VenueConfig
from quantops_trading.venue.config import SlippageModel as VenueSlippage
from quantops_trading.venue.matching import MatchingEngine, SimOrder
from quantops_trading.venue.rejects import Reject

__all__ = ["InProcessVenue", "backtest_policy"]

_ACCOUNT = "backtest"


def backtest_policy(config: BacktestConfig) -> RiskPolicySpec:
    """The default policy of a single-pair backtest: every live rule, but the whole capital may sit
    in the one pair (``concentration_cap`` 1, ``risk_budget`` = ``init_cash``)."""
    return RiskPolicySpec(concentration_cap=1.0, risk_budget=config.init_cash)


class _NullPort:
    venue = "backtest"

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        raise RuntimeError("the backtest gateway never sends: the in-process matching engine fills")

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        raise RuntimeError("the backtest gateway never sends")


class InProcessVenue:
    """Balances, gateway and matching engine of one run, plus the order log."""

    def __init__(
        self,
        book: BookArrays,
        cfg: BacktestConfig,
        policy: RiskPolicySpec,
        strategy_id: str,
        tick: Decimal,
        step: Decimal,
        audit: EventLog | AuditSink | None,
    ) -> None:
        base, sep, quote = cfg.symbol.partition("/")
        if not sep or not base or not quote:
            raise ValueError(
                f"BacktestConfig.instrument: expected 'BASE/QUOTE@venue', got {cfg.instrument!r}"
            )
        self.cfg, self.book, self.sid = cfg, book, strategy_id
        self.symbol, self.base, self.quote, self.tick, self.step = (
            cfg.symbol,
            base,
            quote.split(":")[0],
            tick,
            step,
        )
        sc = SymbolConfig(
            symbol=self.symbol, base=base, quote=self.quote, tick_size=tick, step_size=step, min_qty=step
        )
        fee = Decimal(repr(cfg.fee_rate))
        self._venue = venue = VenueConfig(
            name="backtest", symbols=[sc], maker_fee=fee, taker_fee=fee,
            api_keys=[ApiKey(key=_ACCOUNT, secret="-", balances={self.quote: Decimal(repr(cfg.init_cash))})],
            slippage=VenueSlippage(bps=Decimal(repr(cfg.slippage_bps))),
        )  # fmt: skip
        self.start_ms = int(book.ts_ms[0])
        self.clock = ReplayClock(speed=0.0)
        self._sc = sc
        self.engine = MatchingEngine(
            venue, {self.symbol: self._market(0)}, self.clock, lambda: self.start_ms + self.clock.elapsed_ms
        )
        self.now_s = self.start_ms / 1000.0
        self.gw = RiskGateway(
            _NullPort(), policy, clock=lambda: self.now_s, audit=audit,
            default_capital=Decimal(repr(cfg.init_cash)),
        )  # fmt: skip
        self.gw.set_capital(strategy_id, Decimal(repr(cfg.init_cash)))
        self.orders: list[BacktestOrder] = []
        self.denied = 0
        self.reasons: list[str] = []
        self.fees = 0.0
        self.notional = 0.0
        self.entries = 0
        self.cash = cfg.init_cash  # float mirrors of the engine balances, refreshed after fills
        self.qty = 0.0
        self._n = 0

    def _market(self, i: int, levels: int | None = None) -> MarketData:
        """The venue's market data holding just update ``i`` with its first ``levels`` levels per
        side (the order at hand never reaches beyond them; converting all 20 to ``Decimal`` was
        most of an order's cost). Its book id keeps the engine's memory of liquidity taken."""
        b, n = self.book, self.book.depth
        row = b.levels_row(i)
        k = n if levels is None else max(1, min(n, levels))
        if k < n:
            row = np.concatenate((row[: 2 * k], row[2 * n : 2 * n + 2 * k]))
        return MarketData(self._sc, book=(b.ts_ms[i : i + 1], b.update_id[i : i + 1], row[None, :]),
                          candles=None, trades=None, offset_ms=0)  # fmt: skip

    def _levels_for(self, i: int, buy: bool, qty: float) -> int:
        """Levels of the side an order of ``qty`` consumes, plus one spare; all when it exceeds them."""
        row, n = self.book.levels_row(i), self.book.depth
        sizes = row[2 * n + 1 : 4 * n : 2] if buy else row[1 : 2 * n : 2]
        reach = int(np.searchsorted(np.cumsum(sizes), qty * (1 + 1e-9))) + 1
        return n if reach >= n else reach + 1

    def at(self, i: int) -> None:
        """Move the engine's replay clock to update ``i``."""
        ts = int(self.book.ts_ms[i])
        self.clock.step(ts - self.start_ms - self.clock.elapsed_ms)
        self.now_s = ts / 1000.0

    def mark(self, price: float) -> None:
        self.gw.on_price(self.symbol, Decimal(repr(price)))

    def _balances(self) -> tuple[Decimal, Decimal]:
        acct = self.engine.accounts[_ACCOUNT]
        q, b = acct.get(self.quote), acct.get(self.base)
        return (q.free if q else Decimal(0)), (b.free if b else Decimal(0))

    def _slippage_bps(self, i: int, buy: bool, qty: float) -> float:
        """Flat ``slippage_bps`` plus the calibrated model's prediction for ``qty`` against the
        visible depth of the side the order consumes; the venue applies it to every fill."""
        bps = self.cfg.slippage_bps
        model = self.cfg.slippage_model
        if model is not None:
            row, n = self.book.levels_row(i), self.book.depth
            depth = float(np.sum(row[2 * n + 1 : 4 * n : 2] if buy else row[1 : 2 * n : 2]))
            bps += model.predict(qty, depth)
            slip = VenueSlippage(bps=Decimal(repr(round(bps, 6))))
            self.engine.cfg = self._venue.model_copy(update={"slippage": slip})
        return bps

    def _buy_order(self, i: int, cash: Decimal) -> tuple[Decimal, Decimal, float] | None:
        """(qty, limit price, slippage bps) of a marketable IOC buy spending ``size_fraction`` of cash."""
        row, n = self.book.levels_row(i), self.book.depth
        f, s = self.cfg.fee_rate, self.cfg.slippage_bps / 1e4
        budget = float(cash) * self.cfg.size_fraction
        spent, got, worst = 0.0, 0.0, float(row[2 * n])
        for k in range(n):
            px, q = float(row[2 * n + 2 * k]), float(row[2 * n + 2 * k + 1])
            if q <= 0:
                continue
            worst = px
            cost = px * (1 + s) * (1 + f)
            take = min(q, (budget - spent) / cost)
            spent, got = spent + take * cost, got + take
            if take < q:
                break
        bps = self._slippage_bps(i, True, got)
        limit = (Decimal(repr(worst)) * Decimal(repr(1 + bps / 1e4))).quantize(self.tick, rounding=ROUND_UP)
        qty = (Decimal(repr(budget)) / (limit * (1 + Decimal(repr(f))))).quantize(
            self.step, rounding=ROUND_DOWN
        )
        return (qty, limit, bps) if qty > 0 else None

    def trade(self, i: int, want_long: bool, confidence: float = 0.5, gap: float = 0.0) -> bool:
        """Try to reach the target at update ``i``; True if the position changed."""
        self.at(i)
        cash, base = self._balances()
        if want_long:
            spec = self._buy_order(i, cash)
            if spec is None:
                return False
            qty, price, bps = spec
            side, otype, tif = Side.BUY, OrderType.LIMIT, "IOC"
        else:
            qty = base.quantize(self.step, rounding=ROUND_DOWN)
            if qty <= 0:
                return False
            bps = self._slippage_bps(i, False, float(qty))
            side, otype, tif, price = Side.SELL, OrderType.MARKET, "GTC", None
        self._n += 1
        ref = Decimal(repr(float(self.book.best_ask[i] if want_long else self.book.best_bid[i])))
        intent = OrderIntent(
            strategy_id=self.sid, intent_id=f"nc-{self._n}", symbol=self.symbol, side=side, type=otype,
            quantity=qty, price=price, confidence=confidence, time_in_force=tif,
        )  # fmt: skip
        edge = self.cfg.expected_edge_bps if self.cfg.expected_edge_bps is not None else abs(gap) * 1e4
        req = OrderRequest(intent, ref, expected_edge_bps=edge, expected_slippage_bps=bps)
        self.gw.on_price(self.symbol, ref)
        decision = self.gw.evaluate(req)
        if decision.denied:
            tripped = [
                f"{scope}:{name}={gate.value}"
                for scope in self.gw.scopes_of(req)
                for name, gate in self.gw.switches(scope).items()
                if gate is not Gate.GO
            ]
            if tripped:
                decision = replace(
                    decision, reasons=(*decision.reasons, ("kill_switches", ", ".join(tripped)))
                )
            self.denied += 1
            self.reasons.append(
                f"update {i}: {side} denied by risk: " + "; ".join(f"[{r}] {m}" for r, m in decision.reasons)
            )
            return False
        self.engine.markets[self.symbol] = self._market(i, self._levels_for(i, want_long, float(qty)))
        try:
            order = self.engine.place(
                _ACCOUNT,
                self.symbol,
                side.value.upper(),
                otype.value.upper(),
                qty,
                price,
                tif,
                intent.intent_id,
            )
        except Reject as e:
            self.denied += 1
            self.reasons.append(f"update {i}: {side} rejected by venue: {e}")
            return False
        self.gw.book.orders[self.sid].append(self.now_s)
        self.gw.book.orders["*"].append(self.now_s)
        return self._book_fills(i, order, edge)

    def _book_fills(self, i: int, order: SimOrder, edge: float | None) -> bool:
        if order.executed <= 0:
            self.denied += 1
            self.reasons.append(f"update {i}: {order.side} {order.qty} did not fill ({order.status})")
            return False
        side = Side.BUY if order.side == "BUY" else Side.SELL
        fee_quote = 0.0
        for fl in order.fills:
            fee_q = fl.commission * fl.price if fl.commission_asset == self.base else fl.commission
            fee_quote += float(fee_q)
            fill = Fill(
                venue="backtest", symbol=self.symbol, trade_id=f"bt-{fl.trade_id}",
                venue_order_id=str(fl.order_id), side=side, price=fl.price, quantity=fl.qty,
                fee=fee_q, fee_currency=self.quote, is_maker=fl.is_maker, timestamp_ms=fl.time_ms,
            )  # fmt: skip
            self.gw.on_fill(self.sid, fill)
        avg = float(order.quote / order.executed)
        qty = float(order.executed)
        self.fees += fee_quote
        self.notional += avg * qty
        self.entries += side is Side.BUY
        self.orders.append(BacktestOrder(self.now_s, self.symbol, side.value, qty, avg, fee_quote, i, edge))
        cash, base = self._balances()
        self.cash, self.qty = float(cash), float(base)
        return True
