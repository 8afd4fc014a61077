"""Vietnamese conventions for dates, times and numbers, in the commune's time zone (pure functions).

28/11/2026, 07:30, "Thứ Hai" — whatever the browser's or server's locale. Every instant HQ stores is
UTC; the page shows it in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
Gettext = Callable[[str], str]


def local(dt: datetime) -> datetime:
    return dt.astimezone(TZ)


def fmt_date(value: datetime | date | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    d = local(value) if isinstance(value, datetime) else value
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def fmt_time(value: datetime | None) -> str:
    return "" if value is None else local(value).strftime("%H:%M")


def fmt_datetime(value: datetime | None) -> str:
    return "" if value is None else f"{fmt_time(value)} {fmt_date(value)}"


def fmt_number(value: float, decimals: int = 0) -> str:
    """Vietnamese grouping: 1.234,5 (dot for thousands, comma for decimals)."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def weekday_names(_: Gettext) -> list[str]:
    """Monday first (0 = Monday, as in the contract's recurrence and programme windows)."""
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


def weekday_short(_: Gettext) -> list[str]:
    return [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


def duration_text(seconds: float | None, _: Gettext) -> str:
    """"1 phút 05 giây" style; the estimate shown beside the text box uses the same words."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return _("%(s)d s") % {"s": s}
    return _("%(m)d min %(s)02d s") % {"m": s // 60, "s": s % 60}
