"""What the trader believes the venue holds of each base asset, and where the venue disagrees (75).

Why it exists: sizing is target-based (target − booked position), so a trader whose books say
less than the venue holds buys the difference again — after a lost state volume, a crash between
a send and its log record, or a fill it refused. Only the venue's balances show that. The
account's holdings of a traded base asset must equal a **baseline** (what the account held that
is not this trader's: taken once, at the first start) plus every fill the trader booked, net of
the fees the venue charged in that asset. At the first start the baseline excludes every fill
already on the venue for the traded pairs: a trader that starts with no record of them (a lost
state volume) does not own them, so they show as drift instead of being absorbed silently.

Pure book-keeping on :class:`~quantops_trading.execution.types.Fill`-like facts; the trader does
the I/O, keeps the baseline in its risk log and turns a confirmed drift into a pair PAUSE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from quantops_trading.execution.types import Fill, MarketRules, Side

__all__ = ["Drift", "Holdings"]


@dataclass(frozen=True)
class Drift:
    """A base asset whose venue balance is not baseline + booked fills (beyond one lot)."""

    asset: str
    expected: Decimal
    venue: Decimal
    symbols: tuple[str, ...]

    @property
    def delta(self) -> Decimal:
        return self.venue - self.expected

    def describe(self) -> str:
        return (
            f"venue holds {self.venue} {self.asset}, the books say {self.expected} "
            f"(off by {self.delta:+} {self.asset})"
        )


@dataclass
class Holdings:
    """Baseline + booked fills per asset; the base assets of the traded pairs are checked
    (``rules``: symbol → market; the quote is cash, which the cash floor watches)."""

    rules: Mapping[str, MarketRules]
    symbols: tuple[str, ...]
    baseline: dict[str, Decimal] | None = None
    booked: dict[str, Decimal] = field(default_factory=dict)

    @property
    def assets(self) -> dict[str, tuple[str, ...]]:
        """Each traded base asset → the traded pairs on it."""
        out: dict[str, list[str]] = {}
        for s in self.symbols:
            if s in self.rules:
                out.setdefault(self.rules[s].base, []).append(s)
        return {a: tuple(sorted(ss)) for a, ss in out.items()}

    def changes(
        self, symbol: str, side: Side, quantity: Decimal, price: Decimal, fee: Decimal, fee_currency: str
    ) -> dict[str, Decimal]:
        """What one fill did to the account: both legs, less the fee in the asset it was paid in
        (a pair's quote can be another pair's base, as BTC in ETH/BTC and BTC/USDT)."""
        rules = self.rules.get(symbol)
        if rules is None:
            return {}
        sign = 1 if side is Side.BUY else -1
        out = {rules.base: sign * quantity, rules.quote: -sign * quantity * price}
        if fee_currency:
            out[fee_currency] = out.get(fee_currency, Decimal(0)) - fee
        return out

    def note_fill(
        self, symbol: str, side: Side, quantity: Decimal, price: Decimal, fee: Decimal, fee_currency: str
    ) -> None:
        for asset, change in self.changes(symbol, side, quantity, price, fee, fee_currency).items():
            self.booked[asset] = self.booked.get(asset, Decimal(0)) + change

    def take_baseline(self, venue: Mapping[str, Decimal], unowned: Iterable[Fill]) -> dict[str, Decimal]:
        """The first start's baseline: the venue's holdings without the fills this trader does not
        own (already on the venue, in no book of ours) and without what it booked."""
        base = {a: venue.get(a, Decimal(0)) - self.booked.get(a, Decimal(0)) for a in self.assets}
        for f in unowned:
            for asset, change in self.changes(
                f.symbol, f.side, f.quantity, f.price, f.fee, f.fee_currency
            ).items():
                if asset in base:
                    base[asset] -= change
        self.baseline = base
        return base

    def drift(self, venue: Mapping[str, Decimal]) -> list[Drift]:
        """Assets whose venue balance differs from baseline + booked by more than a lot size."""
        if self.baseline is None:
            return []
        out = []
        for asset, symbols in sorted(self.assets.items()):
            expected = self.baseline.get(asset, Decimal(0)) + self.booked.get(asset, Decimal(0))
            held = venue.get(asset, Decimal(0))
            lot = min(self.rules[s].step_size for s in symbols)
            if abs(held - expected) >= lot:
                out.append(Drift(asset, expected, held, symbols))
        return out
