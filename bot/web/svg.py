"""Server-rendered SVG charts: the day's Gantt timeline and the history charts. Every text is escaped;
the markup works without JavaScript, and carries data-* attributes the live script and tests read."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from bot.web.views import DayCell, Timeline, status_label

COLORS = {"completed": "#2e9d5b", "in_progress": "#2f6fd6", "failed": "#d64545", "cancelled": "#9aa0a6",
          "pending": "#c9a227", "generated": "#c9a227", "pre_validated": "#c9a227"}
WIDTH = 960
LABEL = 230
ROW = 30
PAD = 110  # right of the deadline: room for the last bar's label and the last tick
TOP = 40


def _x(t: datetime, tl: Timeline, span: float) -> float:
    sec = (t - tl.start).total_seconds()
    return LABEL + max(0.0, min(1.0, sec / span)) * (WIDTH - LABEL - PAD)


def _clock(t: datetime, tz: str, seconds: bool) -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S" if seconds else "%H:%M")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def timeline_svg(tl: Timeline) -> Markup:
    span = max(1.0, (tl.deadline - tl.start).total_seconds())
    fine = span < 1200
    height = TOP + ROW * max(1, len(tl.rows)) + 30
    out: list[str] = [
        f'<svg class="timeline" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" data-start="{tl.start.isoformat()}" '
        f'data-deadline="{tl.deadline.isoformat()}" data-x0="{LABEL}" data-x1="{WIDTH - PAD}" '
        f'aria-label="Timeline of the day from start to deadline">',
        f'<rect x="{LABEL}" y="{TOP - 8}" width="{WIDTH - LABEL - PAD}" height="{height - TOP - 14}" fill="#f6f7f9"/>',
    ]
    for i in range(7):
        t = tl.start + timedelta(seconds=span * i / 6)
        x = _x(t, tl, span)
        out.append(f'<line x1="{x:.1f}" y1="{TOP - 8}" x2="{x:.1f}" y2="{height - 22}" stroke="#e1e4e8"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 8}" font-size="11" text-anchor="middle" fill="#555">'
                   f'{_clock(t, tl.tz, fine)}</text>')
    for i, (at, done) in enumerate(tl.checkpoints, 1):
        x = _x(at, tl, span)
        dash = "" if done else ' stroke-dasharray="3,3"'
        out.append(f'<g class="checkpoint" data-done="{str(done).lower()}"><title>Checkpoint {i} at '
                   f'{_clock(at, tl.tz, fine)}{" (done)" if done else ""}</title>'
                   f'<line x1="{x:.1f}" y1="{TOP - 14}" x2="{x:.1f}" y2="{height - 22}" stroke="#7a5cc7"{dash}/>'
                   f'<path d="M{x - 5:.1f},{TOP - 20} L{x:.1f},{TOP - 14} L{x + 5:.1f},{TOP - 20} z" '
                   f'fill="{"#7a5cc7" if done else "none"}" stroke="#7a5cc7"/>'
                   f'<text x="{x:.1f}" y="{TOP - 24}" font-size="10" text-anchor="middle" fill="#7a5cc7">C{i}</text>'
                   f'</g>')
    wx = _x(tl.warning_at, tl, span)
    wdash = "" if tl.warned else ' stroke-dasharray="6,3"'
    out.append(f'<g class="warning" data-warned="{str(tl.warned).lower()}"><title>Wrap-up warning at '
               f'{_clock(tl.warning_at, tl.tz, fine)}{" (sent)" if tl.warned else ""}</title>'
               f'<line x1="{wx:.1f}" y1="{TOP - 14}" x2="{wx:.1f}" y2="{height - 22}" stroke="#e08a00" '
               f'stroke-width="{3 if tl.warned else 2}"{wdash}/>'
               f'<text x="{wx - 4:.1f}" y="{TOP - 24}" font-size="10" text-anchor="end" fill="#e08a00">⚠ wrap-up'
               f'</text></g>')
    dx = _x(tl.deadline, tl, span)
    out.append(f'<line class="deadline" x1="{dx:.1f}" y1="{TOP - 14}" x2="{dx:.1f}" y2="{height - 22}" '
               f'stroke="#c62828" stroke-width="2"><title>Deadline {_clock(tl.deadline, tl.tz, fine)}</title></line>')
    for i, r in enumerate(tl.rows):
        y = TOP + i * ROW
        color = COLORS.get(r.status, "#888")
        label = f"{r.short_id} {_short(r.description, 27)}"
        out.append(f'<g class="bar" data-task="{escape(r.task_id)}" data-status="{escape(r.status)}" '
                   f'data-progress="{r.progress}">')
        out.append(f'<text x="6" y="{y + 18}" font-size="12" fill="#222">{escape(label)}</text>')
        tip = (f"{r.short_id}: {r.description}\nstatus: {status_label(r.status)}, {r.progress}%"
               + (f"\nagent: {r.agent}" if r.agent else "") + (f"\n{r.note}" if r.note else "")
               + (f"\nerror: {r.error}" if r.error else ""))
        out.append(f"<title>{escape(tip)}</title>")
        if r.start is not None:
            x0 = _x(r.start, tl, span)
            x1 = max(x0 + 3, _x(r.end or tl.now, tl, span))
            out.append(f'<rect x="{x0:.1f}" y="{y + 5}" width="{x1 - x0:.1f}" height="{ROW - 10}" rx="3" '
                       f'fill="{color}" fill-opacity="0.35" stroke="{color}"/>')
            filled = (x1 - x0) * (r.progress / 100 if r.status == "in_progress" else 1.0)
            out.append(f'<rect x="{x0:.1f}" y="{y + 5}" width="{filled:.1f}" height="{ROW - 10}" rx="3" '
                       f'fill="{color}"/>')
            text = f"{status_label(r.status)} {r.progress}%" if r.status == "in_progress" else status_label(r.status)
            if r.error:
                text += " ⚠"
            out.append(f'<text x="{x1 + 4:.1f}" y="{y + 19}" font-size="11" fill="{color}">{escape(text)}</text>')
        else:
            x0 = _x(tl.now, tl, span)
            out.append(f'<text x="{x0 + 4:.1f}" y="{y + 19}" font-size="11" fill="{color}" font-style="italic">'
                       f'{escape(status_label(r.status))}{" ⚠ " + escape(_short(r.error, 50)) if r.error else ""}'
                       f'</text>')
        out.append("</g>")
    if tl.now < tl.deadline:
        nx = _x(tl.now, tl, span)
        out.append(f'<line class="now" x1="{nx:.1f}" y1="{TOP - 8}" x2="{nx:.1f}" y2="{height - 22}" '
                   f'stroke="#1565c0" stroke-width="1.5"><title>now</title></line>')
    if not tl.rows:
        out.append(f'<text x="{LABEL + 10}" y="{TOP + 18}" font-size="12" fill="#777">No tasks yet.</text>')
    out.append("</svg>")
    return Markup("".join(out))


def rate_color(rate: float | None) -> str:
    if rate is None:
        return "#eef0f3"
    # red (0%) -> amber -> green (100%)
    if rate < 0.5:
        return f"hsl({int(rate * 2 * 45)}, 70%, 62%)"
    return f"hsl({45 + int((rate - 0.5) * 2 * 85)}, 55%, 50%)"


def ranges_svg(ranges: list[dict[str, object]]) -> Markup:
    """Completed / failed / other tasks for the last 7, 30 and 90 days, as stacked horizontal bars."""
    w, h = 640, 40 + 40 * len(ranges)
    out = [f'<svg class="chart ranges" role="img" aria-label="Success and failure over 7, 30 and 90 days" '
           f'viewBox="0 0 {w} {h}" width="100%" xmlns="http://www.w3.org/2000/svg">']
    for i, r in enumerate(ranges):
        y = 10 + i * 40
        total = int(r["total"])  # type: ignore[call-overload]
        out.append(f'<text x="0" y="{y + 18}" font-size="12">{r["days"]} days</text>')
        x = 70.0
        for key, color in (("completed", COLORS["completed"]), ("failed", COLORS["failed"]), ("other", "#b0b6bd")):
            n = int(r[key])  # type: ignore[call-overload]
            bw = (n / total) * 380 if total else 0
            if bw:
                out.append(f'<rect class="seg" data-kind="{key}" x="{x:.1f}" y="{y + 4}" width="{bw:.1f}" height="20" '
                           f'fill="{color}"><title>{key}: {n}</title></rect>')
            x += bw
        if not total:
            out.append(f'<rect x="70" y="{y + 4}" width="380" height="20" fill="#eef0f3"/>')
        rate = f"{int(r['completed']) / total:.0%} done" if total else "no tasks"  # type: ignore[call-overload]
        out.append(f'<text x="458" y="{y + 18}" font-size="12">{rate} · {int(r["failed"])} failed</text>')  # type: ignore[call-overload]
    out.append(f'<text x="70" y="{h - 6}" font-size="10"><tspan fill="{COLORS["completed"]}">■ completed</tspan> '
               f'<tspan fill="{COLORS["failed"]}">■ failed</tspan> <tspan fill="#b0b6bd">■ other</tspan></text></svg>')
    return Markup("".join(out))


def hbar_svg(items: list[tuple[str, float, str]], *, css: str, label: str, color: str = "#2f6fd6") -> Markup:
    """Horizontal bars: (name, value, value text)."""
    w, h = 640, 20 + 26 * max(1, len(items))
    top = max((v for _, v, _ in items), default=0.0) or 1.0
    out = [f'<svg class="chart {css}" role="img" aria-label="{escape(label)}" viewBox="0 0 {w} {h}" width="100%" '
           f'xmlns="http://www.w3.org/2000/svg">']
    for i, (name, value, text) in enumerate(items):
        y = 8 + i * 26
        bw = max(2.0, value / top * 330)
        out.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(_short(name, 22))}</text>'
                   f'<rect class="bar" x="150" y="{y}" width="{bw:.1f}" height="18" fill="{color}">'
                   f'<title>{escape(name)}: {escape(text)}</title></rect>'
                   f'<text x="{150 + bw + 6:.1f}" y="{y + 14}" font-size="11">{escape(text)}</text>')
    if not items:
        out.append('<text x="0" y="22" font-size="12" fill="#777">No completed tasks in this period.</text>')
    out.append("</svg>")
    return Markup("".join(out))


def cost_svg(costs: list[tuple[date, float]]) -> Markup:
    w, h, base = 560, 170, 140
    top = max((c for _, c in costs), default=0.0) or 1.0
    bw = (w - 40) / max(1, len(costs))
    out = [f'<svg class="chart cost" role="img" aria-label="Cost per day, last 30 days" viewBox="0 0 {w} {h}" '
           f'width="100%" xmlns="http://www.w3.org/2000/svg">',
           f'<line x1="30" y1="{base}" x2="{w}" y2="{base}" stroke="#999"/>',
           f'<text x="0" y="14" font-size="10" fill="#555">${top:.2f}</text>']
    for i, (d, c) in enumerate(costs):
        bh = c / top * 120
        x = 34 + i * bw
        out.append(f'<rect class="bar" data-day="{d.isoformat()}" x="{x:.1f}" y="{base - bh:.1f}" '
                   f'width="{max(1.0, bw - 3):.1f}" height="{bh:.1f}" fill="#7a5cc7"><title>{d.isoformat()}: '
                   f'${c:.4f}</title></rect>')
        if i % 5 == 0 or i == len(costs) - 1:
            anchor = ' text-anchor="end"' if i == len(costs) - 1 else ""
            tx = x + bw if anchor else x
            out.append(f'<text x="{tx:.1f}" y="{base + 14}" font-size="9" fill="#555"{anchor}>'
                       f'{d.strftime("%d %b")}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def calendar_svg(weeks: list[list[DayCell | None]], today: date, selected: date | None) -> Markup:
    """A month: each day coloured by its completion rate; a click opens that day's breakdown."""
    cw, ch = 74, 54
    w, h = cw * 7 + 4, 24 + ch * len(weeks) + 4
    out = [f'<svg class="calendar" role="img" aria-label="Completion rate per day" viewBox="0 0 {w} {h}" '
           f'width="100%" xmlns="http://www.w3.org/2000/svg">']
    for i, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
        out.append(f'<text x="{i * cw + cw / 2:.0f}" y="16" font-size="11" text-anchor="middle" fill="#555">'
                   f'{name}</text>')
    for r, week in enumerate(weeks):
        for c, cell in enumerate(week):
            if cell is None:
                continue
            x, y = c * cw + 2, 24 + r * ch
            rate = cell.rate
            stroke = ' stroke="#1565c0" stroke-width="3"' if cell.day == selected else ' stroke="#fff"'
            future = cell.day > today
            label = "no shift" if not cell.total else f"{rate:.0%} · {cell.completed}/{cell.total}"
            inner = (f'<rect x="{x}" y="{y}" width="{cw - 4}" height="{ch - 4}" rx="4" '
                     f'fill="{"#fafafa" if future else rate_color(rate)}"{stroke}/>'
                     f'<text x="{x + 6}" y="{y + 16}" font-size="12" font-weight="bold">{cell.day.day}</text>'
                     f'<text x="{x + 6}" y="{y + 38}" font-size="10">{escape(label) if not future else ""}</text>'
                     f'<title>{cell.day.isoformat()}: {escape(label)}</title>')
            if future:
                out.append(f"<g>{inner}</g>")
            else:
                out.append(f'<a class="day" href="/history/{cell.day.isoformat()}" data-day="{cell.day.isoformat()}" '
                           f'data-rate="{"" if rate is None else f"{rate:.3f}"}">{inner}</a>')
    out.append("</svg>")
    return Markup("".join(out))


def type_items(categories: list[tuple[str, float, int]]) -> list[tuple[str, float, str]]:
    def fmt(minutes: float) -> str:
        return f"{minutes * 60:.0f} s" if minutes < 1 else f"{minutes:.1f} min"

    return [(name, minutes, f"{fmt(minutes)} · {count} task(s)") for name, minutes, count in categories]
