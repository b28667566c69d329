"""The simulator's matching engine: accounts, orders and fills against a replayed book.

Why it exists: orders sent through ccxt must be filled the way a venue fills them — taker orders
walk the recorded book (partial fills when it is thin, adverse slippage, taker fee), resting limit
orders fill at their own price when the replayed market trades through them, in price-time
priority among themselves, paying the maker fee. Liquidity taken from a snapshot is remembered
until the book updates, so the same recorded size is never sold twice.

It must not know HTTP, signatures or faults (``server.py``), and never uses floats for money.
Deterministic: the only randomness is slippage jitter from a seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation

from quantops_trading.venue.books import BookSnapshot, MarketData, ReplayClock
from quantops_trading.venue.config import SymbolConfig, VenueConfig
from quantops_trading.venue.rejects import Reject

__all__ = ["Balance", "MatchingEngine", "SimFill", "SimOrder"]

OPEN = ("NEW", "PARTIALLY_FILLED")


@dataclass(slots=True)
class Balance:
    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class SimFill:
    trade_id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_buyer: bool
    is_maker: bool


@dataclass(slots=True)
class SimOrder:
    order_id: int
    client_id: str
    account: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # LIMIT | MARKET
    tif: str  # GTC | IOC | FOK
    price: Decimal  # 0 for market orders
    qty: Decimal
    time_ms: int
    seq: int
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    status: str = "NEW"
    update_ms: int = 0
    locked: Decimal = Decimal(0)  # funds still reserved for the unfilled part
    fills: list[SimFill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed


def _on_grid(value: Decimal, step: Decimal) -> bool:
    """``value`` is a whole number of ``step``s; a value too many steps away to count at the
    decimal context's precision (an order for 1e30 units) is off the grid, not a server error."""
    try:
        return value % step == 0
    except InvalidOperation:
        return False


class MatchingEngine:
    """All orders and balances of one simulated venue."""

    def __init__(
        self,
        cfg: VenueConfig,
        markets: dict[str, MarketData],
        clock: ReplayClock,
        now_ms: Callable[[], int],
    ) -> None:
        self.cfg = cfg
        self.markets = markets
        self.clock = clock
        self.now_ms = now_ms
        self._rng = random.Random(cfg.seed)
        self.accounts: dict[str, dict[str, Balance]] = {
            str(k.key): {a: Balance(free=v) for a, v in k.balances.items()} for k in cfg.api_keys
        }
        self.orders: dict[int, SimOrder] = {}
        self._by_client: dict[tuple[str, str, str], int] = {}
        self._consumed: dict[tuple[str, int, str, Decimal], Decimal] = {}
        self._frozen: dict[str, BookSnapshot] = {}
        self._next_order = 1
        self._next_trade = 1
        self._seq = 0

    # -- books ------------------------------------------------------------------------------
    def symbol_cfg(self, symbol: str) -> SymbolConfig:
        md = self.markets.get(symbol)
        if md is None:
            raise Reject.bad_symbol()
        return md.cfg

    def book(self, symbol: str, depth: int = 20) -> BookSnapshot:
        """The current book (frozen while a stale-book fault holds it)."""
        if symbol in self._frozen:
            return self._frozen[symbol]
        self.symbol_cfg(symbol)
        return self.markets[symbol].book(self.clock.elapsed_ms, depth)

    def freeze(self, symbol: str, on: bool) -> None:
        if on and symbol not in self._frozen:
            self._frozen[symbol] = self.book(symbol)
        elif not on:
            self._frozen.pop(symbol, None)

    def _available(self, snap: BookSnapshot, symbol: str, side: str, px: Decimal, qty: Decimal) -> Decimal:
        return qty - self._consumed.get((symbol, snap.update_id, side, px), Decimal(0))

    def _consume(self, snap: BookSnapshot, symbol: str, side: str, px: Decimal, qty: Decimal) -> None:
        key = (symbol, snap.update_id, side, px)
        self._consumed[key] = self._consumed.get(key, Decimal(0)) + qty

    # -- orders -----------------------------------------------------------------------------
    def place(
        self,
        account: str,
        symbol: str,
        side: str,
        type_: str,
        qty: Decimal,
        price: Decimal | None,
        tif: str,
        client_id: str,
    ) -> SimOrder:
        """Validate, reserve funds, take liquidity, rest the remainder; or raise :class:`Reject`."""
        sc = self.symbol_cfg(symbol)
        if (account, symbol, client_id) in self._by_client:
            raise Reject.duplicate_order()
        if qty < sc.min_qty or qty > sc.max_qty or not _on_grid(qty, sc.step_size):
            raise Reject.filter_failure("LOT_SIZE")
        snap = self.book(symbol)
        if type_ == "LIMIT":
            if price is None or price <= 0:
                raise Reject.missing_param("price")
            if not _on_grid(price, sc.tick_size):
                raise Reject.filter_failure("PRICE_FILTER")
            ref = price
        else:
            top = snap.asks if side == "BUY" else snap.bids
            ref = top[0][0] if top else Decimal(0)
        if qty * ref < sc.min_notional:
            raise Reject.filter_failure("NOTIONAL")
        bal = self.accounts.setdefault(account, {})
        asset = sc.quote if side == "BUY" else sc.base
        need = qty * ref * (1 + self.cfg.taker_fee) if side == "BUY" else qty
        if type_ == "MARKET" and side == "BUY":
            need = qty * self._walk_cost(snap, qty)
        free = bal.setdefault(asset, Balance())
        if free.free < need:
            raise Reject.insufficient_balance()
        now = self.now_ms()
        self._seq += 1
        order = SimOrder(
            self._next_order, client_id, account, symbol, side, type_, tif,
            price if price is not None and type_ == "LIMIT" else Decimal(0), qty, now, self._seq,
            update_ms=now,
        )  # fmt: skip
        self._next_order += 1
        order.locked = need
        free.free -= need
        free.locked += need
        self.orders[order.order_id] = order
        self._by_client[(account, symbol, client_id)] = order.order_id
        if tif == "FOK" and self._fillable(snap, order) < qty:
            self._close(order, "EXPIRED")
            return order
        self._take(snap, order)
        if order.remaining > 0 and (type_ == "MARKET" or tif != "GTC"):
            self._close(order, "EXPIRED")
        return order

    def _walk_cost(self, snap: BookSnapshot, qty: Decimal) -> Decimal:
        """Worst price a market buy of ``qty`` would reach (for the funds check), with a margin."""
        left, px = qty, snap.asks[-1][0] if snap.asks else Decimal(0)
        for p, q in snap.asks:
            left -= q
            if left <= 0:
                px = p
                break
        return px * (1 + self.cfg.taker_fee) * Decimal("1.01")

    def _crosses(self, order: SimOrder, px: Decimal) -> bool:
        if order.type == "MARKET":
            return True
        return px <= order.price if order.side == "BUY" else px >= order.price

    def _fillable(self, snap: BookSnapshot, order: SimOrder) -> Decimal:
        levels = snap.asks if order.side == "BUY" else snap.bids
        book_side = "ASK" if order.side == "BUY" else "BID"
        return sum(
            (
                self._available(snap, order.symbol, book_side, p, q)
                for p, q in levels
                if self._crosses(order, p)
            ),
            Decimal(0),
        )

    def _slipped(self, order: SimOrder, px: Decimal) -> Decimal:
        m = self.cfg.slippage
        bps = m.bps + m.jitter_bps * Decimal(repr(round(self._rng.random(), 6)))
        tick = self.symbol_cfg(order.symbol).tick_size
        if order.side == "BUY":
            out = (px * (1 + bps / 10000)).quantize(tick, rounding=ROUND_UP)
            return min(out, order.price) if order.type == "LIMIT" else out
        out = (px * (1 - bps / 10000)).quantize(tick, rounding=ROUND_DOWN)
        return max(out, order.price) if order.type == "LIMIT" else out

    def _take(self, snap: BookSnapshot, order: SimOrder) -> None:
        """Fill ``order`` as taker against the opposite side of ``snap``."""
        levels = snap.asks if order.side == "BUY" else snap.bids
        book_side = "ASK" if order.side == "BUY" else "BID"
        for px, qty in levels:
            if order.remaining <= 0 or not self._crosses(order, px):
                break
            avail = self._available(snap, order.symbol, book_side, px, qty)
            if avail <= 0:
                continue
            q = min(avail, order.remaining)
            self._consume(snap, order.symbol, book_side, px, q)
            self._fill(order, self._slipped(order, px), q, maker=False)

    def _fill(self, order: SimOrder, px: Decimal, qty: Decimal, *, maker: bool) -> None:
        sc = self.symbol_cfg(order.symbol)
        bal = self.accounts[order.account]
        rate = self.cfg.maker_fee if maker else self.cfg.taker_fee
        now = self.now_ms()
        if order.side == "BUY":
            fee, fee_asset = (qty * rate).quantize(sc.step_size, rounding=ROUND_UP), sc.base
            spent = px * qty
            release = order.locked * qty / order.remaining  # the reserve of the part filled
            quote_bal = bal[sc.quote]
            quote_bal.locked -= release
            quote_bal.free += release - spent
            order.locked -= release
            bal.setdefault(sc.base, Balance()).free += qty - fee
        else:
            fee, fee_asset = (px * qty * rate).quantize(sc.tick_size, rounding=ROUND_UP), sc.quote
            base_bal = bal[sc.base]
            base_bal.locked -= qty
            order.locked -= qty
            bal.setdefault(sc.quote, Balance()).free += px * qty - fee
        f = SimFill(self._next_trade, order.order_id, order.symbol, px, qty, fee, fee_asset, now,
                    order.side == "BUY", maker)  # fmt: skip
        self._next_trade += 1
        order.fills.append(f)
        order.executed += qty
        order.quote += px * qty
        order.update_ms = now
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"

    def _close(self, order: SimOrder, status: str) -> None:
        sc = self.symbol_cfg(order.symbol)
        asset = sc.quote if order.side == "BUY" else sc.base
        b = self.accounts[order.account][asset]
        b.locked -= order.locked
        b.free += order.locked
        order.locked = Decimal(0)
        order.status = status
        order.update_ms = self.now_ms()

    def match_resting(self) -> int:
        """Fill resting orders the current books trade through (price-time priority); fills made."""
        made = 0
        for symbol in self.markets:
            resting = [o for o in self.orders.values() if o.symbol == symbol and o.status in OPEN]
            if not resting:
                continue
            snap = self.book(symbol)
            buys = sorted((o for o in resting if o.side == "BUY"), key=lambda o: (-o.price, o.seq))
            sells = sorted((o for o in resting if o.side == "SELL"), key=lambda o: (o.price, o.seq))
            for order in [*buys, *sells]:
                levels = snap.asks if order.side == "BUY" else snap.bids
                book_side = "ASK" if order.side == "BUY" else "BID"
                for px, qty in levels:
                    if order.remaining <= 0 or not self._crosses(order, px):
                        break
                    avail = self._available(snap, symbol, book_side, px, qty)
                    if avail > 0:
                        q = min(avail, order.remaining)
                        self._consume(snap, symbol, book_side, px, q)
                        self._fill(order, order.price, q, maker=True)
                        made += 1
        return made

    def find(self, account: str, symbol: str, order_id: int | None, client_id: str | None) -> SimOrder:
        self.symbol_cfg(symbol)
        oid = order_id if order_id is not None else self._by_client.get((account, symbol, client_id or ""))
        order = self.orders.get(oid) if oid is not None else None
        if order is None or order.account != account or order.symbol != symbol:
            raise Reject.unknown_order_query()
        return order

    def cancel(self, account: str, symbol: str, order_id: int | None, client_id: str | None) -> SimOrder:
        try:
            order = self.find(account, symbol, order_id, client_id)
        except Reject:
            raise Reject.unknown_order_cancel() from None
        if order.status not in OPEN:
            raise Reject.unknown_order_cancel()
        self._close(order, "CANCELED")
        return order

    def open_orders(self, account: str, symbol: str | None) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if o.account == account and o.status in OPEN and (symbol is None or o.symbol == symbol)
        ]

    def all_orders(self, account: str, symbol: str) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.account == account and o.symbol == symbol]

    def my_trades(self, account: str, symbol: str) -> list[SimFill]:
        fills = [f for o in self.all_orders(account, symbol) for f in o.fills]
        return sorted(fills, key=lambda f: f.trade_id)
