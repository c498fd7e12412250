"""Inline SVG charts for the support pages: plain markup made on the server, no JavaScript.

Coordinates are floats (drawing only); every number printed on a chart comes from the Decimal it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from markupsafe import Markup

from gateway.queries.consumption import Day

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 16, 36
PALETTE = ("#1f6fb2", "#d9822b", "#2e9e5b", "#a44ec2", "#c23b3b", "#6b6b6b", "#b39b00", "#0f8a8a")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = float(10 ** len(str(int(value))))
    for step in (0.1, 0.2, 0.25, 0.5, 1.0):
        if value <= magnitude * step:
            return magnitude * step
    return magnitude


def _svg(body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">'
        + "".join(body) + "</svg>")


def consumption_and_price(days: Sequence[Day], kwh_label: str, price_label: str) -> Markup:
    """Daily kWh as bars (left axis) and the mean day-ahead price as a line (right axis, c/kWh)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(days), 1)
    kwh_max = _nice_max(max((float(d.kwh) for d in days if d.kwh is not None), default=0.0))
    prices = [float(d.price_c_per_kwh) for d in days if d.price_c_per_kwh is not None]
    price_lo = min(0.0, min(prices, default=0.0))
    price_hi = _nice_max(max(prices, default=0.0))
    body = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>']
    for i in range(5):
        y = TOP + plot_h * i / 4
        body.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        body.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{kwh_max * (4 - i) / 4:g}</text>')
        price = price_hi - (price_hi - price_lo) * i / 4
        body.append(f'<text x="{LEFT + plot_w + 6}" y="{y + 4:.1f}" fill="#d9822b">{price:.1f}</text>')
    slot = plot_w / n
    for i, d in enumerate(days):
        x = LEFT + i * slot
        if d.kwh is not None:
            h = plot_h * float(d.kwh) / kwh_max
            fill = "#8fb8de" if d.estimated or d.missing else "#1f6fb2"
            body.append(f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{TOP + plot_h - h:.1f}" '
                        f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{fill}">'
                        f'<title>{d.day.isoformat()}: {d.kwh:.3f} kWh</title></rect>')
        if n <= 31 or i % 7 == 0:
            body.append(f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
                        f'{d.day.day}</text>')
    points = [(LEFT + (i + 0.5) * slot, TOP + plot_h * (price_hi - float(d.price_c_per_kwh)) / (price_hi - price_lo))
              for i, d in enumerate(days) if d.price_c_per_kwh is not None]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline class="price" points="{path}" fill="none" stroke="#d9822b" stroke-width="2"/>')
    body.append(f'<text x="{LEFT}" y="{HEIGHT - 6}" fill="#1f6fb2">■ {escape(kwh_label)}</text>')
    body.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end" fill="#d9822b">— '
                f'{escape(price_label)}</text>')
    return _svg(body, f"{kwh_label} / {price_label}")


def monthly_costs(months: Sequence[str], series: Sequence[tuple[str, Sequence[Decimal], bool]], label: str) -> Markup:
    """One line per product over the months (€ incl. VAT); the current product drawn thicker."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM - 18
    top = _nice_max(max((float(v) for _, values, _ in series for v in values), default=0.0))
    n = max(len(months), 1)
    slot = plot_w / n
    body = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>']
    for i in range(5):
        y = TOP + plot_h * i / 4
        body.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        body.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{top * (4 - i) / 4:g} €</text>')
    for i, month in enumerate(months):
        body.append(f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">'
                    f'{escape(month)}</text>')
    for k, (code, values, current) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        pts = [(LEFT + (i + 0.5) * slot, TOP + plot_h * (1 - float(v) / top)) for i, v in enumerate(values)]
        width = 4 if current else 2
        body.append(f'<polyline class="product" data-product="{escape(code)}" points="'
                    + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                    + f'" fill="none" stroke="{colour}" stroke-width="{width}"/>')
        for (x, y), v, month in zip(pts, values, months, strict=True):
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{width}" fill="{colour}">'
                        f'<title>{escape(code)} {escape(month)}: {v} €</title></circle>')
        legend_x = LEFT + k * 125
        bold = ' font-weight="bold"' if current else ""
        body.append(f'<text x="{legend_x}" y="{HEIGHT - 6}" fill="{colour}"{bold}>— {escape(code)}</text>')
    return _svg(body, label)
