"""46: per-hour liquidity profiles and sessions/breaks learned from the real CME 6E and FXCM GBP/USD bars."""

from __future__ import annotations

import datetime as dt

import polars as pl
from strat_support import CME_6E, ETH_BTC_1M, FXCM_GBPUSD, candles

from quantops_trading.data import data_file, read_raw
from quantops_trading.signals import BehaviourProfile, SessionCalendar, hour_of_week, hourly_profile


def _ms(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=dt.UTC).timestamp() * 1000)


def _fx() -> pl.DataFrame:
    raw = read_raw(data_file(FXCM_GBPUSD))
    return raw.with_columns(pl.all().exclude("ts_ms").cast(pl.Float64), pl.col("ts_ms").cast(pl.Int64))


def test_sig_hour_of_week() -> None:
    assert hour_of_week(_ms(2024, 1, 1, 0)) == 0  # a Monday
    assert hour_of_week(_ms(2024, 1, 7, 23, 59)) == 167


def test_sig_cme_daily_break_and_weekend_are_learned() -> None:
    cal = SessionCalendar.learn(hourly_profile(candles(CME_6E)))
    daily_breaks = {22, 46, 70, 94}  # 22:00 UTC (17:00 Chicago) Monday–Thursday
    weekend = set(range(118, 167))  # Friday 22:00 → Sunday 22:59 UTC
    assert cal.closed_hours == frozenset(daily_breaks | weekend)
    assert cal.is_open(_ms(2024, 1, 16, 14)) and not cal.is_open(_ms(2024, 1, 16, 22, 30))
    assert cal.minutes_to_close(_ms(2024, 1, 16, 21, 50)) == 10
    assert not cal.is_open(_ms(2024, 1, 20, 12)) and cal.is_open(_ms(2024, 1, 21, 23, 5))


def test_sig_fx_weekend_learned_and_spread_profile() -> None:
    profile = hourly_profile(_fx())
    cal = SessionCalendar.learn(profile)
    assert cal.closed_hours == frozenset(range(118, 166))  # Friday 22:00 → Sunday 21:59 UTC
    spreads = dict(profile.select("how", "spread_bps").drop_nulls().iter_rows())
    london = [spreads[d * 24 + h] for d in range(5) for h in (8, 9, 10)]
    rollover = [spreads[d * 24 + 21] for d in range(4)]
    assert max(london) < min(rollover)  # spreads widen at the 5pm New York rollover


def test_sig_behaviour_profile_modes() -> None:
    prof = BehaviourProfile.learn(hourly_profile(candles(CME_6E)))
    closed = prof.at(_ms(2024, 1, 20, 12))
    assert closed.mode == "closed" and not closed.allow_new_entries and closed.size_multiplier == 0
    near = prof.at(_ms(2024, 1, 16, 21, 50))
    assert not near.allow_new_entries and "close" in near.reason
    thin_hour = sorted(prof.thin_hours)[0]
    assert prof.thin_hours and all(h not in prof.calendar.closed_hours for h in prof.thin_hours)
    monday = _ms(2024, 1, 15, 0) + thin_hour * 3_600_000 + 5 * 60_000
    assert prof.at(monday).mode == "thin" and prof.at(monday).size_multiplier == 0.5
    assert prof.at(_ms(2024, 1, 17, 14, 30)).mode == "normal"
    crypto = SessionCalendar.learn(hourly_profile(candles(ETH_BTC_1M)))
    assert crypto.closed_hours == frozenset() and crypto.minutes_to_close(_ms(2018, 1, 22, 0)) is None
