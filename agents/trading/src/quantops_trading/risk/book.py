"""The risk engine's own book: positions, marks, P&L, equity peaks, activity windows, open orders.

Why it exists: every rule needs the same facts (what each strategy holds in each pair, at what
mark, what it has won or lost, how often it traded, which orders are working), and they must be
updated in one place from fills and prices so two rules can never disagree about the book. Amounts
are Decimals; the float views (``exposures_float``) feed only the VaR maths.

What it must not do: decide. It records and projects; rules and kill switches judge.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from decimal import Decimal

from quantops_trading.execution.types import OrderRequest, Side

__all__ = ["WINDOW_SECONDS", "Holding", "OpenOrder", "OrderRequest", "RiskBook"]

WINDOW_SECONDS = 60.0
_ZERO = Decimal(0)


@dataclass(slots=True)
class Holding:
    """Average-cost position of one strategy in one pair."""

    qty: Decimal = _ZERO
    avg: Decimal = _ZERO
    realised: Decimal = _ZERO

    def apply(
        self, side: Side, qty: Decimal, price: Decimal, fee: Decimal, fee_in_base: bool = False
    ) -> tuple[Decimal, bool]:
        """Apply a fill; return its realised P&L (net of its fee) and whether it closed anything.

        ``fee_in_base``: the venue took the fee in the base asset (Binance's rule on a buy: the
        fee is paid in the asset received), so the position moves by the fill less that fee — what
        the venue's balance moves by — and the fee counts at the fill's price in quote P&L.
        """
        if fee_in_base:
            qty, fee = (qty - fee if side is Side.BUY else qty + fee), fee * price
        signed = qty if side is Side.BUY else -qty
        realised = -fee
        closing = self.qty != 0 and (self.qty > 0) != (signed > 0)
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            new = self.qty + signed
            self.avg = (abs(self.qty) * self.avg + qty * price) / abs(new)
        else:
            closed = min(abs(self.qty), qty)
            realised += closed * (price - self.avg) * (1 if self.qty > 0 else -1)
            new = self.qty + signed
            if new == 0:
                self.avg = _ZERO
            elif (new > 0) != (self.qty > 0):
                self.avg = price
        self.qty = new
        self.realised += realised
        return realised, closing


@dataclass(frozen=True, slots=True)
class OpenOrder:
    client_order_id: str
    strategy: str
    symbol: str
    sent_at: float
    reduce_only: bool


@dataclass
class RiskBook:
    """Positions per (strategy, pair), marks, cash, equity peaks, activity windows and open orders."""

    holdings: dict[tuple[str, str], Holding] = field(default_factory=dict)
    net_qty: dict[str, Decimal] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    capital: dict[str, Decimal] = field(default_factory=dict)
    cash: Decimal | None = None
    peaks: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    trades: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    cancels: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    fills: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    open_orders: dict[str, OpenOrder] = field(default_factory=dict)

    # -- positions and exposure -------------------------------------------------------------
    def position(self, strategy: str, pair: str) -> Decimal:
        h = self.holdings.get((strategy, pair))
        return h.qty if h is not None else _ZERO

    def mark(self, pair: str, fallback: Decimal = _ZERO) -> Decimal:
        return self.marks.get(pair, fallback)

    def pair_exposure(self, pair: str, extra_qty: Decimal = _ZERO, price: Decimal | None = None) -> Decimal:
        """Absolute net notional of ``pair`` across strategies, optionally after ``extra_qty``."""
        px = self.marks.get(pair, price if price is not None else _ZERO)
        return abs(self.net_qty.get(pair, _ZERO) + extra_qty) * px

    def gross_exposure(self) -> Decimal:
        return sum((abs(q) * self.marks.get(p, _ZERO) for p, q in self.net_qty.items()), _ZERO)

    def exposures_float(self, strategy: str | None = None) -> dict[str, float]:
        """Signed notional per pair (one strategy, or the whole portfolio when ``None``)."""
        if strategy is None:
            return {p: float(q * self.marks.get(p, _ZERO)) for p, q in self.net_qty.items() if q}
        return {
            p: float(h.qty * self.marks.get(p, _ZERO))
            for (s, p), h in self.holdings.items()
            if s == strategy and h.qty
        }

    def strategies(self) -> set[str]:
        return {s for s, _ in self.holdings} | set(self.capital)

    # -- P&L and equity -----------------------------------------------------------------------
    def pnl(self, strategy: str | None = None) -> Decimal:
        """Realised + unrealised P&L of one strategy (or all)."""
        total = _ZERO
        for (s, p), h in self.holdings.items():
            if strategy is not None and s != strategy:
                continue
            total += h.realised
            if h.qty:
                total += h.qty * (self.marks.get(p, h.avg) - h.avg)
        return total

    def equity(self, strategy: str | None, default_capital: Decimal) -> Decimal:
        if strategy is None:
            base = sum(self.capital.values(), _ZERO) or default_capital
        else:
            base = self.capital.get(strategy, default_capital)
        return base + self.pnl(strategy)

    def drawdown(self, strategy: str | None, default_capital: Decimal) -> float:
        """Fractional drawdown from the equity peak (the peak is updated here)."""
        key = strategy or "*portfolio*"
        eq = self.equity(strategy, default_capital)
        peak = max(self.peaks.get(key, eq), eq)
        self.peaks[key] = peak
        return 0.0 if peak <= 0 else float((peak - eq) / peak)

    # -- activity windows ----------------------------------------------------------------------
    @staticmethod
    def count(window: deque[float], now: float, seconds: float = WINDOW_SECONDS) -> int:
        """Events in the last ``seconds`` (older entries are dropped: windows only ever shrink here)."""
        while window and window[0] <= now - seconds:
            window.popleft()
        return len(window)

    def note_order(self, order: OpenOrder) -> None:
        self.orders[order.strategy].append(order.sent_at)
        self.orders["*"].append(order.sent_at)
        self.open_orders[order.client_order_id] = order

    def note_cancel(self, strategy: str, now: float, client_order_id: str | None) -> None:
        self.cancels[strategy].append(now)
        if client_order_id is not None:
            self.open_orders.pop(client_order_id, None)

    def note_fill(
        self,
        strategy: str,
        pair: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        now: float,
        fee_currency: str = "",
    ) -> tuple[Decimal, bool]:
        """Book a fill; return its realised P&L and whether it closed (part of) a position.

        ``fee_currency``: the asset the fee was paid in; a fee in the pair's base asset moves the
        position (see :meth:`Holding.apply`), any other is counted in quote.
        """
        in_base = bool(fee_currency) and fee_currency == pair.split("/")[0]
        h = self.holdings.setdefault((strategy, pair), Holding())
        result = h.apply(side, qty, price, fee, fee_in_base=in_base)
        moved = qty if side is Side.BUY else -qty
        self.net_qty[pair] = self.net_qty.get(pair, _ZERO) + (moved - fee if in_base else moved)
        self.marks.setdefault(pair, price)
        self.trades[strategy].append(now)
        self.trades["*"].append(now)
        self.fills[strategy].append(now)
        if self.cash is not None:
            self.cash += (-qty * price if side is Side.BUY else qty * price) - (_ZERO if in_base else fee)
        return result

    def stale_orders(self, now: float, ttl: float) -> list[OpenOrder]:
        return [o for o in self.open_orders.values() if now - o.sent_at >= ttl]
