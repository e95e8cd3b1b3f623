"""Bar charts as server-rendered SVG: nothing to download, nothing run in the browser."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, GAP = 640, 150, 2


def bars(points: list[tuple[str, int]], unit: str) -> Markup:
    """One bar per (label, value), oldest first; each bar's title says its value."""
    if not points:
        return Markup('<p class="muted">Nothing counted in this window.</p>')
    top = max(value for _, value in points) or 1
    step = WIDTH / len(points)
    shapes = []
    for index, (label, value) in enumerate(points):
        tall = round((HEIGHT - 20) * value / top, 1)
        x = round(index * step, 1)
        shapes.append(
            f'<rect x="{x}" y="{HEIGHT - 20 - tall}" width="{max(1.0, step - GAP):.1f}" '
            f'height="{tall}" class="bar"><title>{escape(label)}: {value:,} {escape(unit)}'
            "</title></rect>"
        )
    first, last = escape(points[0][0]), escape(points[-1][0])
    shapes.append(f'<text x="0" y="{HEIGHT - 4}" class="axis">{first}</text>')
    shapes.append(
        f'<text x="{WIDTH}" y="{HEIGHT - 4}" class="axis" text-anchor="end">{last}</text>'
    )
    shapes.append(f'<text x="0" y="12" class="axis">max {top:,} {escape(unit)}</text>')
    body = "".join(shapes)
    return Markup(
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
        f'aria-label="{escape(unit)} per day">{body}</svg>'
    )
