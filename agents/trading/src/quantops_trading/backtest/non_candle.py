"""The event-driven non-candle lane: the strategy, the RiskGateway and the venue's matching engine
in-process over a recorded L2 book stream.

Why it exists: the candle lane fills at a bar's open with a flat cost model; real orders cross a
spread, walk a finite book, are rounded to lot sizes and can be refused by risk. This lane runs
the very same strategy object through the very same components as a live agent —
:class:`~quantops_trading.risk.gateway.RiskGateway` (every rule and kill switch) and
:class:`~quantops_trading.venue.matching.MatchingEngine` (book walking, fees, lot/notional filters,
balances) — on the recorded updates, so the gap between the lanes measures execution reality.

Event model:

* ``events`` is one row per L2 update (``ts_ms``, ``bid_px_i``/``bid_qty_i``/``ask_px_i``/``ask_qty_i``,
  optionally ``last_update_id``), e.g. ``orderbook/*_L2top20_*.csv.gz`` via ``data.loaders.load_feed``;
  ``trades`` (optional, ``ts_ms``, ``amount``) only adds traded volume to the bars.
* Updates are grouped into ``bar_ms`` buckets of the mid price (:func:`bars.bars_from_book` gives the
  candle lane the identical bars). A bar closes when the first update of a later bucket arrives;
  ``on_bar`` is called then, and any order it causes is matched against *that* update's book — the
  first book after the decision, the same instant the candle lane's next-bar-open fill uses.
* Strategies that override ``on_book`` get every update as a :class:`BookSnapshot`; their orders
  match against the next update (one-update latency). This path is per-update Python and slower.
* Targets are long/flat (as in the candle lane). An entry is a marketable limit IOC buy at the
  worst book level its size needs (plus slippage), so no cash margin is left idle; an exit is a
  market sell of the whole base balance. Orders are tried when the target changes; a risk denial
  or venue reject leaves the position as it is and is counted in ``denied``.
* The gateway sees a mark (``on_price``) at every bar close and every fill; equity is marked at
  every bar close (quote balance + base balance × mid).

What it must not do: send anything over a network, or let the strategy see an update before it
happened (decisions at update ``i`` fill at ``i`` only for bar closes, which are known at ``i``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.backtest.candle import strategy_fingerprint_of
from quantops_trading.backtest.fingerprint import fingerprint_data
from quantops_trading.backtest.types import BacktestConfig, BacktestOrder, BacktestResult, FloatArray
from quantops_trading.backtest.types import max_drawdown as _max_drawdown
from quantops_trading.backtest.types import sharpe as _sharpe
from quantops_trading.execution.types import Fill, OrderIntent, OrderType, Side, VenueOrder
from quantops_trading.risk.book import OrderRequest
from quantops_trading.risk.events import AuditSink
from quantops_trading.risk.gateway import RiskGateway
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.strategy.base import (
    Bar,
    BookSnapshot,
    Intent,
    Output,
    Signal,
    Strategy,
    StrategyContext,
)
from quantops_trading.venue.books import MarketData, ReplayClock
from quantops_trading.venue.config import ApiKey, SymbolConfig, VenueConfig
from quantops_trading.venue.config import SlippageModel as VenueSlippage
from quantops_trading.venue.matching import MatchingEngine, SimOrder
from quantops_trading.venue.rejects import Reject

__all__ = ["BookArrays", "backtest_policy", "book_arrays", "run_non_candle"]

_LEVEL = re.compile(r"^(bid|ask)_(px|qty)_(\d+)$")
_ACCOUNT = "backtest"


class BookArrays:
    """The L2 stream as numpy: ``levels[i]`` = [bid px, qty]×n then [ask px, qty]×n (venue layout)."""

    __slots__ = ("depth", "levels", "ts_ms", "update_id")

    def __init__(
        self, ts_ms: npt.NDArray[np.int64], update_id: npt.NDArray[np.int64], levels: FloatArray
    ) -> None:
        self.ts_ms, self.update_id, self.levels = ts_ms, update_id, levels
        self.depth = levels.shape[1] // 4

    @property
    def best_bid(self) -> FloatArray:
        return self.levels[:, 0]

    @property
    def best_ask(self) -> FloatArray:
        return self.levels[:, 2 * self.depth]

    @property
    def mid(self) -> FloatArray:
        return (self.levels[:, 0] + self.levels[:, 2 * self.depth]) / 2.0


def book_arrays(events: pl.DataFrame) -> BookArrays:
    """Check an L2 frame and convert it; errors name the column and the first bad row."""
    if not isinstance(events, pl.DataFrame):
        raise TypeError(f"events: expected a polars DataFrame, got {type(events).__name__}")
    depth = 0
    for name in events.columns:
        m = _LEVEL.match(name)
        if m and m[1] == "bid" and m[2] == "px":
            depth = max(depth, int(m[3]))
    if depth == 0 or "ts_ms" not in events.columns:
        missing = "ts_ms" if "ts_ms" not in events.columns else "bid_px_1"
        raise ValueError(f"events: missing column {missing!r} (need ts_ms and bid/ask_px/qty_1..n)")
    if events.height == 0:
        raise ValueError("events: no rows")
    cols = [f"{s}_{k}_{i}" for s in ("bid", "ask") for i in range(1, depth + 1) for k in ("px", "qty")]
    for c in cols:
        if c not in events.columns:
            raise ValueError(f"events: missing column {c!r} (depth {depth} implied by bid_px_{depth})")
    try:
        num = events.select(pl.col(c).cast(pl.Float64, strict=True) for c in cols)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as e:
        raise ValueError(f"events: a book column is not numeric: {e}") from e
    for c in ("bid_px_1", "ask_px_1", "bid_qty_1", "ask_qty_1"):
        s = num.get_column(c)
        bad = s.is_null() | ~s.is_finite() | (s <= 0)
        if bad.any():
            i = int(bad.arg_true()[0])
            raise ValueError(f"events.{c}: missing or non-positive at row {i} ({s[i]!r})")
    levels = num.fill_null(0.0).fill_nan(0.0).to_numpy().astype(np.float64, copy=False)
    try:
        ts = events.get_column("ts_ms").cast(pl.Int64, strict=True).to_numpy()
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as e:
        raise ValueError(f"events.ts_ms: not integer milliseconds: {e}") from e
    if ts.size > 1 and (np.diff(ts) < 0).any():
        i = int(np.flatnonzero(np.diff(ts) < 0)[0]) + 1
        raise ValueError(f"events.ts_ms: goes backwards at row {i} ({ts[i - 1]} → {ts[i]})")
    out = BookArrays(ts.astype(np.int64, copy=False), np.arange(ts.size, dtype=np.int64), levels)
    crossed = out.best_bid >= out.best_ask
    if crossed.any():
        i = int(np.flatnonzero(crossed)[0])
        raise ValueError(
            f"events.bid_px_1: crossed book at row {i} (bid {out.best_bid[i]} >= ask {out.best_ask[i]})"
        )
    if "last_update_id" in events.columns:
        # The venue keys consumed liquidity by update id: use the recorded ids only when they are
        # strictly increasing (unique); otherwise (e.g. a stream replayed twice) the row number.
        uid = events.get_column("last_update_id").cast(pl.Int64, strict=False)
        ids = uid.to_numpy() if uid.null_count() == 0 else None
        if ids is not None and (ids.size < 2 or bool(np.all(np.diff(ids) > 0))):
            out.update_id = ids.astype(np.int64, copy=False)
    return out


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


def _target_of(outputs: Any, current: float | None) -> float | None:
    target = current
    for out in outputs:
        if isinstance(out, Signal):
            target = 1.0 if out.value > 0 else 0.0
        elif isinstance(out, Intent):
            target = 1.0 if out.side is Side.BUY else 0.0
    return target


class _Sim:
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
        md = MarketData(
            sc, book=(book.ts_ms, book.update_id, book.levels), candles=None, trades=None, offset_ms=0
        )
        self.engine = MatchingEngine(
            venue, {self.symbol: md}, self.clock, lambda: self.start_ms + self.clock.elapsed_ms
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
            row, n = self.book.levels[i], self.book.depth
            depth = float(np.sum(row[2 * n + 1 : 4 * n : 2] if buy else row[1 : 2 * n : 2]))
            bps += model.predict(qty, depth)
            slip = VenueSlippage(bps=Decimal(repr(round(bps, 6))))
            self.engine.cfg = self._venue.model_copy(update={"slippage": slip})
        return bps

    def _buy_order(self, i: int, cash: Decimal) -> tuple[Decimal, Decimal, float] | None:
        """(qty, limit price, slippage bps) of a marketable IOC buy spending ``size_fraction`` of cash."""
        row, n = self.book.levels[i], self.book.depth
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


def _book_snapshot(book: BookArrays, i: int, instrument: str) -> BookSnapshot:
    row, n = book.levels[i], book.depth
    bids = tuple((float(row[2 * k]), float(row[2 * k + 1])) for k in range(n) if row[2 * k + 1] > 0)
    asks = tuple(
        (float(row[2 * n + 2 * k]), float(row[2 * n + 2 * k + 1]))
        for k in range(n)
        if row[2 * n + 2 * k + 1] > 0
    )
    return BookSnapshot(instrument, int(book.ts_ms[i]), bids, asks)


def run_non_candle(
    strategy: Strategy,
    events: pl.DataFrame,
    config: BacktestConfig | None = None,
    *,
    bar_ms: int = 1_000,
    trades: pl.DataFrame | None = None,
    policy: RiskPolicySpec | None = None,
    strategy_id: str = "backtest",
    tick_size: Decimal = Decimal("0.01"),
    step_size: Decimal = Decimal("0.00001"),
    audit: EventLog | AuditSink | None = None,
    data_fingerprint: str | None = None,
    strategy_fingerprint: str | None = None,
) -> BacktestResult:
    """Run ``strategy`` over the L2 ``events`` through RiskGateway and MatchingEngine (module doc)."""
    cfg = config or BacktestConfig(instrument="BTC/USDT@binance")
    if bar_ms <= 0:
        raise ValueError(f"bar_ms: must be > 0, got {bar_ms}")
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy: the non-candle lane runs Strategy objects, got {type(strategy).__name__}")
    book = book_arrays(events)
    sim = _Sim(book, cfg, policy or backtest_policy(cfg), strategy_id, tick_size, step_size, audit)
    if strategy.context is None:
        strategy.on_start(StrategyContext(strategy_id, (cfg.instrument,)))
    mid = book.mid
    bucket = book.ts_ms // bar_ms
    starts = np.flatnonzero(np.diff(bucket)) + 1 if bucket.size > 1 else np.empty(0, dtype=np.int64)
    starts = np.concatenate(([0], starts)).astype(np.int64)
    ends = np.concatenate((starts[1:], [bucket.size])).astype(np.int64)
    o, hi, lo = mid[starts], np.maximum.reduceat(mid, starts), np.minimum.reduceat(mid, starts)
    c = mid[ends - 1]
    vol = (
        _bar_volume(trades, bucket[starts] * bar_ms, bar_ms)
        if trades is not None
        else (ends - starts).astype(float)
    )
    bar_open_ms = bucket[starts] * bar_ms
    nbars = starts.size
    equity = np.empty(nbars)
    held = 0.0
    on_book = type(strategy).on_book is not Strategy.on_book
    pending: tuple[float, list[Output]] | None = None  # on_book decision awaiting the next update

    def act(i: int, target: float | None, outputs: list[Output]) -> None:
        nonlocal held
        conf = float(outputs[-1].confidence) if outputs else 0.5
        gap = float(outputs[-1].attribution.get("gap", 0.0)) if outputs else 0.0
        if target is not None and target != held and sim.trade(i, target > 0.5, conf, gap):
            held = target

    last_target: float | None = None
    for j in range(nbars):
        if on_book:
            for i in range(int(starts[j]), int(ends[j])):
                if pending is not None:
                    act(i, pending[0], pending[1])
                    pending = None
                outs = list(strategy.on_book(_book_snapshot(book, i, cfg.instrument)))
                t = _target_of(outs, None)
                if t is not None and t != last_target:
                    pending, last_target = (t, outs), t
        outputs: list[Output] = list(
            strategy.on_bar(
                Bar(
                    cfg.instrument,
                    int(bar_open_ms[j]) + bar_ms,
                    float(o[j]),
                    float(hi[j]),
                    float(lo[j]),
                    float(c[j]),
                    float(vol[j]),
                )
            )
        )
        t = _target_of(outputs, None)
        if sim.qty > 0:
            sim.now_s = float(book.ts_ms[ends[j] - 1]) / 1000.0
            sim.mark(float(c[j]))
        equity[j] = sim.cash + sim.qty * float(c[j])
        if t is not None and t != last_target:
            last_target = t
            if j + 1 < nbars:  # the bar closes when the next bucket's first update arrives
                act(int(starts[j + 1]), t, outputs)
    final = float(equity[-1])
    notes = tuple(sim.reasons[:20])
    return BacktestResult(
        strategy_fingerprint=strategy_fingerprint or strategy_fingerprint_of(strategy),
        data_fingerprint=data_fingerprint or fingerprint_data(events),
        lane="non_candle",
        trades=sim.entries,
        final_equity=final,
        total_return=final / cfg.init_cash - 1.0,
        max_drawdown=_max_drawdown(equity),
        turnover=sim.notional / cfg.init_cash,
        sharpe=_sharpe(equity, float(bar_ms)),
        equity=equity,
        orders=sim.orders,
        fees_paid=sim.fees,
        denied=sim.denied,
        notes=notes,
    )


def _bar_volume(trades: pl.DataFrame, bar_open_ms: npt.NDArray[np.int64], bar_ms: int) -> FloatArray:
    for name in ("ts_ms", "amount"):
        if name not in trades.columns:
            raise ValueError(f"trades: missing column {name!r}")
    agg = (
        trades.lazy()
        .select(
            ((pl.col("ts_ms").cast(pl.Int64) // bar_ms) * bar_ms).alias("b"),
            pl.col("amount").cast(pl.Float64),
        )
        .group_by("b")
        .agg(pl.col("amount").sum())
        .collect()
    )
    lookup = dict(zip(agg.get_column("b").to_list(), agg.get_column("amount").to_list(), strict=True))
    return np.array([lookup.get(int(b), 0.0) for b in bar_open_ms.tolist()], dtype=np.float64)
