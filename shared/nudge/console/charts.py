"""Charts as inline SVG, drawn on the server: no script, no external asset, readable at a
glance (one idea per chart, labelled axes, the unit in the title).

Each function returns Markup for a template; every label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def _trusted(html: str) -> Markup:
    """SVG built here: every label and title in it went through escape() first."""
    return Markup(html)  # noqa: S704


INK, MUTED, ACCENT, BAND, WARN = "#1f2933", "#7b8794", "#2563eb", "#bfdbfe", "#dc2626"


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    if high == low:
        return (start + end) / 2
    return start + (value - low) * (end - start) / (high - low)


def sparkline(
    values: Sequence[float | None], label: str, width: int = 120, height: int = 28
) -> Markup:
    """A small trend line; the last value is marked. Gaps (None) are skipped."""
    points = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    title = escape(label)
    if not points:
        return _trusted(f'<span class="muted" title="{title}">no data yet</span>')
    low, high = min(v for _, v in points), max(v for _, v in points)
    low = min(low, 0.0)
    last = max(len(values) - 1, 1)
    coords = [
        (_scale(i, 0, last, 2, width - 2), _scale(v, low, high, height - 2, 2)) for i, v in points
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    x, y = coords[-1]
    return _trusted(
        f'<svg class="spark" role="img" aria-label="{title}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{title}</title>'
        f'<polyline fill="none" stroke="{ACCENT}" stroke-width="1.5" points="{path}"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{ACCENT}"/></svg>'
    )


def line_chart(
    points: Sequence[tuple[str, float | None, float | None, float | None]],
    title: str,
    y_label: str,
    width: int = 560,
    height: int = 220,
    baseline: float | None = None,
    y_range: tuple[float, float] | None = None,
) -> Markup:
    """A line over labelled x positions, with an interval band (low, high) where given and an
    optional dashed baseline. points: (x label, value, low, high)."""
    head = escape(title)
    known = [p for p in points if p[1] is not None]
    if not known:
        return _trusted(f'<p class="empty">{head}: no data in this period yet.</p>')
    left, right, top, bottom = 48, width - 12, 24, height - 36
    values = [v for p in known for v in p[1:] if v is not None]
    if baseline is not None:
        values.append(baseline)
    low, high = y_range or (min(values), max(values))
    if low == high:
        low, high = low - 1, high + 1
    last = max(len(points) - 1, 1)

    def x(i: int) -> float:
        return _scale(i, 0, last, left, right)

    def y(v: float) -> float:
        return _scale(v, low, high, bottom, top)

    parts = [
        f'<svg class="chart" role="img" aria-label="{head}" viewBox="0 0 {width} {height}">',
        f"<title>{head}</title>",
        f'<text x="{left}" y="14" class="chart-title">{head}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="{MUTED}"/>',
    ]
    for tick in (low, (low + high) / 2, high):
        parts.append(
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="tick">'
            f"{tick:,.1f}</text>"
        )
    parts.append(
        f'<text x="12" y="{(top + bottom) / 2:.0f}" class="tick" '
        f'transform="rotate(-90 12 {(top + bottom) / 2:.0f})" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    band = [(i, p) for i, p in enumerate(points) if p[2] is not None and p[3] is not None]
    if len(band) >= 2:
        upper = " ".join(f"{x(i):.1f},{y(float(p[3])):.1f}" for i, p in band)  # type: ignore[arg-type]
        lower = " ".join(
            f"{x(i):.1f},{y(float(p[2])):.1f}"  # type: ignore[arg-type]
            for i, p in reversed(band)
        )
        parts.append(f'<polygon points="{upper} {lower}" fill="{BAND}" opacity="0.6"/>')
    if baseline is not None:
        parts.append(
            f'<line x1="{left}" y1="{y(baseline):.1f}" x2="{right}" y2="{y(baseline):.1f}" '
            f'stroke="{WARN}" stroke-dasharray="4 3"><title>baseline {baseline:,.2f}</title></line>'
        )
    line = " ".join(
        f"{x(i):.1f},{y(float(p[1])):.1f}" for i, p in enumerate(points) if p[1] is not None
    )
    parts.append(f'<polyline fill="none" stroke="{ACCENT}" stroke-width="2" points="{line}"/>')
    step = max(1, len(points) // 6)
    for i, p in enumerate(points):
        if p[1] is not None:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(float(p[1])):.1f}" r="2.5" fill="{ACCENT}">'
                f"<title>{escape(p[0])}: {float(p[1]):,.2f}</title></circle>"
            )
        if i % step == 0 or i == len(points) - 1:
            # the last label ends at the axis, the first starts there: none is cut off
            anchor = "end" if i == len(points) - 1 else "start" if i == 0 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{bottom + 16}" text-anchor="{anchor}" class="tick">'
                f"{escape(p[0])}</text>"
            )
    parts.append("</svg>")
    return _trusted("".join(parts))


def bars(
    items: Sequence[tuple[str, float]], title: str, unit: str = "", width: int = 560
) -> Markup:
    """Horizontal bars, largest first as given, each with its value and unit."""
    head = escape(title)
    if not items:
        return _trusted(f'<p class="empty">{head}: nothing to show yet.</p>')
    row, label_w = 22, 180
    height = 24 + row * len(items)
    top = max((v for _, v in items), default=0.0) or 1.0
    parts = [
        f'<svg class="chart" role="img" aria-label="{head}" viewBox="0 0 {width} {height}">',
        f"<title>{head}</title>",
        f'<text x="0" y="14" class="chart-title">{head}</text>',
    ]
    for n, (label, value) in enumerate(items):
        y = 24 + n * row
        span = (width - label_w - 90) * max(value, 0.0) / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="tick">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{span:.1f}" height="{row - 8}" '
            f'fill="{ACCENT}"/>'
            f'<text x="{label_w + span + 6:.1f}" y="{y + 14}" class="tick">'
            f"{value:,.0f}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return _trusted("".join(parts))
