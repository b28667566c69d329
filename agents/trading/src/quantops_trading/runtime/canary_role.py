"""CanaryWork (roadmap 98): a tiny synthetic round trip through the whole path, on a schedule.

Why it exists: a platform can look green — agents Ready, gates GO — while orders cannot actually
reach the venue (bad keys, a broken ccxt path, a faulted venue). Every ``intervalSeconds`` the canary
proves the path end to end with real components: a :class:`Signal` → sized :class:`Intent` →
:class:`RiskGateway` (the agent's gates, the ``global`` RiskPolicy) → ccxt → the venue simulator →
the fill read back with ``fetch_my_trades`` → the risk book's accounting, then the same quantity
back (the canary ends flat). Each hop is checked and timed; the run is audited as ``CanaryPassed``
or ``CanaryFailed`` (with the failing hop and reason) in ``$QUANTOPS_STATE_DIR/audit.jsonl``.

Canary orders are marked: strategy id ``canary`` and client order ids starting ``canary`` (the
gateway's deterministic id with its ``qo`` prefix swapped), and their events go to
``<state>/canary/canary.sqlite`` — not ``eventlogs/`` — so no strategy's PnL includes them.
The canary's account needs a little of the base asset too: the venue takes the buy's fee in the
asset bought, so selling the same quantity back draws on that float (a few satoshis per run).

On failure the canary raises NO_GO: it sets ``gateScope`` (default ``global``) to ``failGate``
(default PAUSE) through the control plane with the failing hop as the reason — an audited
``GateChanged`` that the dashboard shows and the supervisor role turns into a NO_GO alert. It never
sets a gate back to GO (a person does, after looking); while its own effective gate is not GO it
skips runs (``CanarySkipped``) rather than fight the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any

import aiohttp

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance
from quantops_trading.execution.errors import TradingError
from quantops_trading.execution.types import Fill, MarketRules, OrderIntent, Side, VenueOrder
from quantops_trading.model.events import OrderFilled, OrderSubmitted
from quantops_trading.model.ids import ClientOrderId, InstrumentId
from quantops_trading.model.orders import Fill as ModelFill
from quantops_trading.model.orders import LiquiditySide, OrderSide
from quantops_trading.risk import RiskGateway
from quantops_trading.risk.events import to_model_order
from quantops_trading.runtime.agent import AgentRuntime, IdleWork
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.strategy import Intent, Signal

__all__ = ["CANARY_PREFIX", "CANARY_STRATEGY", "CanaryFailure", "CanaryPort", "CanaryWork"]

CANARY_STRATEGY = "canary"
CANARY_PREFIX = "canary"


class CanaryFailure(Exception):
    """One hop of the canary's path did not do what it must."""

    def __init__(self, hop: str, reason: str) -> None:
        super().__init__(f"{hop}: {reason}")
        self.hop, self.reason = hop, reason


class CanaryPort:
    """The gateway's door to the venue, marking every client order id as the canary's."""

    def __init__(self, client: CcxtExecutionClient) -> None:
        self.client = client
        self.venue = client.venue

    @staticmethod
    def mark(client_order_id: str) -> str:
        """``qo<hash>-<n>`` → ``canary<hash>-<n>`` (36 chars, Binance's limit)."""
        return CANARY_PREFIX + client_order_id.removeprefix("qo")

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        return await self.client.create_order(intent, self.mark(client_order_id))

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        coid = self.mark(client_order_id) if client_order_id else None
        return await self.client.cancel_order(symbol, venue_order_id=venue_order_id, client_order_id=coid)


class CanaryWork(IdleWork):
    def __init__(
        self,
        config: dict[str, Any],
        agent_config: dict[str, Any] | None = None,
        state_dir: Path | None = None,
        control_url: str | None = None,
    ) -> None:
        agent_config = agent_config or {}
        self.cfg = config
        self.state_dir = state_dir or Path(os.environ.get("QUANTOPS_STATE_DIR", "."))
        self.control_url = (
            control_url if control_url is not None else os.environ.get("QUANTOPS_CONTROL_URL", "")
        )
        pols = agent_config.get("riskPolicies") or {}
        self.policy = RiskPolicySpec.model_validate(pols.get("global") or {})
        self.venue_agents = list(agent_config.get("venues") or {})
        self.interval_s = float(config.get("intervalSeconds", 60.0))
        self.hop_timeout_s = float(config.get("hopTimeoutSeconds", 5.0))
        self.notional_margin = Decimal(str(config.get("notionalMargin", "1.2")))
        self.gate_scope = str(config.get("gateScope", "global"))
        self.fail_gate = Gate(str(config.get("failGate", "PAUSE")).upper())
        self.symbol: str = str(config.get("symbol", ""))
        # The canary pays fees on purpose (its "edge" is evidence, not PnL); declaring an edge lets
        # the fee guard pass while every other risk rule still applies.
        self.edge_bps = float(config.get("expectedEdgeBps", 10000.0))
        self.slippage = Decimal(str(config.get("slippageBps", 100)))
        self.agent, self.venue_url, self.venue = "", "", ""
        self.client: CcxtExecutionClient | None = None
        self.gateway: RiskGateway | None = None
        self.markets: dict[str, MarketRules] = {}
        self.log: EventLog | None = None
        self.runs = {"passed": 0, "failed": 0, "skipped": 0}
        self.last: dict[str, Any] | None = None
        self._seq = 0
        self.lock = asyncio.Lock()  # a run in progress finishes before flush closes the client

    # -- plumbing -----------------------------------------------------------------------------------
    async def _discover(self, rt: AgentRuntime, http: aiohttp.ClientSession) -> str:
        """The venue URL: ``spec.config.venueUrl``, else the venue-sim agent's /status."""
        url = str(self.cfg.get("venueUrl", ""))
        want = self.cfg.get("venueAgent") or (self.venue_agents or [None])[0]
        while not url and self.control_url and not rt.stopping.is_set():
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, KeyError, ValueError):
                async with http.get(f"{self.control_url}/api/status") as r:
                    agents = (await r.json())["agents"]
                a = next((v for v in agents if v["role"] == "venue-sim" and want in (None, v["name"])), None)
                if a is not None and a["port"]:
                    async with http.get(f"http://127.0.0.1:{a['port']}/status") as r:
                        work = (await r.json())["work"]
                    url, self.venue = work.get("venueUrl", ""), work.get("venue", a["name"])
            if not url:
                await asyncio.sleep(0.5)
        return url

    def _audit(self, event: str, **fields: Any) -> None:
        rec = {"at": time.time(), "event": event, "agent": self.agent, **fields}
        fd = os.open(self.state_dir / "audit.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(rec, default=str) + "\n").encode())
        finally:
            os.close(fd)
        print(json.dumps(rec, default=str), flush=True)

    async def _raise_no_go(self, http: aiohttp.ClientSession, failure: CanaryFailure) -> str:
        """Set the configured scope's gate through the control plane; returns what happened."""
        if not self.control_url:
            return "no control plane to set the gate on"
        body = {
            "scope": self.gate_scope,
            "gate": self.fail_gate.value,
            "reason": f"canary failed at {failure.hop}: {failure.reason}",
            "who": self.agent or CANARY_STRATEGY,
        }
        try:
            async with http.post(f"{self.control_url}/api/gate", json=body) as r:
                out = await r.json()
                return (
                    f"{out.get('scope')}: {out.get('old')} → {out.get('new')}"
                    if r.status == 200
                    else str(out)
                )
        except (aiohttp.ClientError, TimeoutError) as e:
            return f"gate not set: {type(e).__name__}: {e}"

    # -- loop ---------------------------------------------------------------------------------------
    async def run(self, rt: AgentRuntime) -> None:
        self.agent = rt.name
        key, secret = self.cfg.get("apiKey"), self.cfg.get("apiSecret")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            self.venue_url = await self._discover(rt, http)
            if not self.venue_url or not key or not secret:
                why = "no venue found" if not self.venue_url else "no spec.config.apiKey/apiSecret"
                self.last = {"result": "idle", "reason": why}
                await rt.stopping.wait()
                return
            self.client = CcxtExecutionClient(
                make_binance(self.venue_url, str(key), str(secret)), self.venue or "venue"
            )
            self.gateway = RiskGateway(CanaryPort(self.client), self.policy, gate_state=rt.gates)
            (self.state_dir / "canary").mkdir(parents=True, exist_ok=True)
            self.log = EventLog(self.state_dir / "canary" / "canary.sqlite")
            while not rt.stopping.is_set():
                async with self.lock:
                    if rt.stopping.is_set():
                        break
                    await self.run_once(rt, http)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(rt.stopping.wait(), self.interval_s)

    async def run_once(self, rt: AgentRuntime, http: aiohttp.ClientSession) -> dict[str, Any]:
        """One canary round trip; audited, and NO_GO raised on failure."""
        gate = rt.effective_gate()
        if gate is not Gate.GO:
            self.runs["skipped"] += 1
            first = (self.last or {}).get("result") != "skipped"
            self.last = {"result": "skipped", "reason": f"effective gate {gate.value}"}
            if first:  # audit the transition, not every interval
                self._audit("CanarySkipped", reason=f"effective gate is {gate.value}, not GO")
            return self.last
        t0 = time.monotonic()
        hops: dict[str, float] = {}
        try:
            await self._round_trip(hops)
        except CanaryFailure as f:
            if rt.stopping.is_set() or not rt.accepting:  # the agent is shutting down, not the path
                self.last = {"result": "aborted", "hop": f.hop, "reason": f.reason}
                self._audit("CanaryAborted", hop=f.hop, reason=f"agent stopping: {f.reason}")
                return self.last
            self.runs["failed"] += 1
            gate_result = await self._raise_no_go(http, f)
            self.last = {"result": "failed", "hop": f.hop, "reason": f.reason, "gate": gate_result}
            self._audit("CanaryFailed", hop=f.hop, reason=f.reason, passedHops=list(hops), gate=gate_result)
            return self.last
        self.runs["passed"] += 1
        total_ms = round((time.monotonic() - t0) * 1000, 1)
        self.last = {"result": "passed", "hops": hops, "ms": total_ms}
        self._audit("CanaryPassed", symbol=self.symbol, hops=hops, ms=total_ms, reason="all hops verified")
        return self.last

    async def _hop(self, name: str, hops: dict[str, float], coro: Any) -> Any:
        t = time.monotonic()
        try:
            out = await asyncio.wait_for(coro, self.hop_timeout_s)
        except TimeoutError:
            raise CanaryFailure(name, f"no answer within {self.hop_timeout_s}s") from None
        except TradingError as e:
            raise CanaryFailure(name, f"{type(e).__name__}: {e}") from None
        hops[name] = round((time.monotonic() - t) * 1000, 1)
        return out

    async def _round_trip(self, hops: dict[str, float]) -> None:
        assert self.client is not None and self.gateway is not None
        if not self.markets:
            self.markets = await self._hop("venue", {}, self.client.load_markets())
            self.symbol = self.symbol or sorted(self.markets)[0]
        if self.symbol not in self.markets:
            raise CanaryFailure("venue", f"symbol {self.symbol} is not listed on {self.venue}")
        rules = self.markets[self.symbol]
        book = await self._hop("venue", {}, self.client.fetch_order_book(self.symbol, 5))
        if not book.bids or not book.asks:
            raise CanaryFailure("venue", f"empty order book for {self.symbol}")
        mid = (book.bids[0][0] + book.asks[0][0]) / 2
        self.gateway.on_price(self.symbol, mid)
        inst = InstrumentId(f"{self.symbol}@{self.venue}")
        ts_ms = book.timestamp_ms or int(time.time() * 1000)
        t = time.monotonic()
        sig = Signal(instrument_id=inst, ts_ms=ts_ms, confidence=1.0, value=1.0, reason="canary")
        if self.log is not None:
            self.log.append(sig.to_event(CANARY_STRATEGY))
        hops["signal"] = round((time.monotonic() - t) * 1000, 1)
        qty = max(rules.min_qty, (rules.min_notional * self.notional_margin / mid)).quantize(
            rules.step_size, rounding=ROUND_UP
        )
        before = self.gateway.book.position(CANARY_STRATEGY, self.symbol)
        await self._leg(Side.BUY, qty, self._marketable(Side.BUY, book.asks[0][0], rules), sig, hops, "")
        after = self.gateway.book.position(CANARY_STRATEGY, self.symbol)
        if after - before != qty:
            raise CanaryFailure("accounting", f"position moved {after - before}, expected {qty}")
        book = await self._hop("unwind", {}, self.client.fetch_order_book(self.symbol, 5))
        price = self._marketable(Side.SELL, book.bids[0][0], rules)
        await self._leg(Side.SELL, qty, price, sig, hops, "unwind")
        if self.gateway.book.position(CANARY_STRATEGY, self.symbol) != before:
            raise CanaryFailure("unwind", "the canary did not end flat")

    def _marketable(self, side: Side, touch: Decimal, rules: MarketRules) -> Decimal:
        """A limit through the touch by ``slippageBps``: it still fills if the book moved meanwhile
        (a fast replay moves it a lot), but never at any price (no market orders)."""
        k = self.slippage / Decimal(10000)
        if side is Side.BUY:
            return (touch * (1 + k)).quantize(rules.tick_size, rounding=ROUND_UP)
        return (touch * (1 - k)).quantize(rules.tick_size, rounding=ROUND_DOWN)

    async def _leg(
        self, side: Side, qty: Decimal, price: Decimal, sig: Signal, hops: dict[str, float], tag: str
    ) -> None:
        """One marketable limit order: risk → venue → fill → accounting, each hop verified."""
        assert self.client is not None and self.gateway is not None
        self._seq += 1
        intent = Intent(
            instrument_id=sig.instrument_id,
            ts_ms=sig.ts_ms,
            confidence=1.0,
            reason="canary",
            side=side,
            quantity=qty,
            price=price,
            reduce_only=side is Side.SELL,
        )
        req = intent.to_order_request(CANARY_STRATEGY, f"{int(time.time() * 1000)}-{self._seq}", price)
        req = dataclasses.replace(req, expected_edge_bps=self.edge_bps)
        t = time.monotonic()
        try:
            decision = await asyncio.wait_for(self.gateway.submit(req), self.hop_timeout_s)
        except TimeoutError:
            raise CanaryFailure(tag or "venue", f"no answer within {self.hop_timeout_s}s") from None
        except TradingError as e:
            raise CanaryFailure(tag or "venue", f"{type(e).__name__}: {e}") from None
        if decision.action != "sent" or decision.venue_order is None or decision.client_order_id is None:
            why = "; ".join(f"[{r}] {m}" for r, m in decision.reasons) or decision.action
            raise CanaryFailure(tag or "risk", f"gateway did not send: {why}")
        hops[f"{tag}.risk+venue" if tag else "risk+venue"] = round((time.monotonic() - t) * 1000, 1)
        vo = decision.venue_order
        coid = CanaryPort.mark(decision.client_order_id)
        if vo.client_order_id != coid:
            raise CanaryFailure(tag or "venue", f"venue echoed client id {vo.client_order_id}, sent {coid}")
        if self.log is not None:
            order = to_model_order(req, self.venue).model_copy(update={"client_order_id": coid})
            self.log.append(OrderSubmitted(order=order))
        try:
            fills = await self._hop(f"{tag}.fill" if tag else "fill", hops, self._await_fills(vo, qty))
        except CanaryFailure:
            with contextlib.suppress(TradingError):  # leave nothing working on the venue
                await self.gateway.cancel(CANARY_STRATEGY, vo.symbol, decision.client_order_id)
            self.gateway.order_closed(decision.client_order_id)
            raise
        self.gateway.order_closed(decision.client_order_id)
        for f in fills:
            self.gateway.on_fill(CANARY_STRATEGY, f)
            if self.log is not None:
                self.log.append(OrderFilled(fill=_model_fill(f, coid, self.venue)))

    async def _await_fills(self, vo: VenueOrder, qty: Decimal) -> list[Fill]:
        assert self.client is not None
        while True:
            fills = [
                f
                for f in await self.client.fetch_my_trades(vo.symbol)
                if f.venue_order_id == vo.venue_order_id
            ]
            if sum((f.quantity for f in fills), Decimal(0)) >= qty:
                return fills
            await asyncio.sleep(0.1)

    async def cancel_working_orders(self) -> int:
        return 0  # every canary order is marketable and awaited; none is left working

    async def flush(self) -> None:
        with contextlib.suppress(TimeoutError):  # let a run in flight finish (bounded by its hops)
            await asyncio.wait_for(self.lock.acquire(), 4 * self.hop_timeout_s)
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.client is not None:
            await self.client.close()

    def describe(self) -> dict[str, Any]:
        return {"venueUrl": self.venue_url, "symbol": self.symbol, "runs": dict(self.runs), "last": self.last}


def _model_fill(f: Fill, coid: str, venue: str) -> ModelFill:
    return ModelFill(
        client_order_id=ClientOrderId(coid),
        trade_id=f.trade_id,
        instrument_id=InstrumentId(f"{f.symbol}@{venue}"),
        side=OrderSide(f.side.value),
        price=f.price,
        quantity=f.quantity,
        fee=f.fee,
        fee_currency=f.fee_currency or None,
        liquidity=LiquiditySide.MAKER if f.is_maker else LiquiditySide.TAKER,
        ts_ns=f.timestamp_ms * 1_000_000,
    )
