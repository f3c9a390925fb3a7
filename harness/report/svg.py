"""Minimal SVG line charts with shaded windows (no plotting dependency)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

W, H, PAD = 900, 260, 46
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _tick(value: float) -> str:
    """An axis label: whole numbers when the scale allows, else two significant digits."""
    return f"{value:.0f}" if value >= 10 or value == 0 else f"{value:.2g}"


def line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    x_max: float,
    y_label: str,
    windows: Sequence[tuple[float, float, str]] = (),
) -> str:
    """`series`: name → [(x, y)]; `windows`: (start, end, label) shaded in red."""
    y_max = max((y for pts in series.values() for _, y in pts), default=1.0) or 1.0
    y_max *= 1.1
    x_max = x_max or 1.0

    def sx(x: float) -> float:
        return PAD + (W - 2 * PAD) * x / x_max

    def sy(y: float) -> float:
        return H - PAD - (H - 2 * PAD) * y / y_max

    parts = [
        f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{W / 2}" y="18" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
    ]
    for start, end, label in windows:
        parts.append(
            f'<rect x="{sx(start):.1f}" y="{PAD}" width="{max(1.0, sx(end) - sx(start)):.1f}" '
            f'height="{H - 2 * PAD}" fill="#f4a3a3" opacity="0.45"><title>{escape(label)}</title></rect>'
        )
    parts.append(f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#333"/>')
    parts.append(f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>')
    for i in range(5):
        y = y_max * i / 4
        parts.append(
            f'<text x="{PAD - 4}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="10">{_tick(y)}</text>'
        )
        x = x_max * i / 4
        parts.append(
            f'<text x="{sx(x):.1f}" y="{H - PAD + 14}" text-anchor="middle" font-size="10">{x:.0f}s</text>'
        )
    parts.append(
        f'<text x="12" y="{H / 2}" font-size="11" transform="rotate(-90 12 {H / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        if pts:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>'
            )
        parts.append(
            f'<text x="{W - PAD - 150}" y="{PAD + 14 * (i + 1)}" fill="{color}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float]], *, y_label: str) -> str:
    """Vertical bars, one per (label, value): a distribution over buckets."""
    y_max = (max((v for _, v in bars), default=1.0) or 1.0) * 1.1
    n = max(1, len(bars))
    slot = (W - 2 * PAD) / n
    parts = [
        f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{W / 2}" y="18" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#333"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>',
        f'<text x="12" y="{H / 2}" font-size="11" transform="rotate(-90 12 {H / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for i in range(5):
        y = y_max * i / 4
        sy = H - PAD - (H - 2 * PAD) * y / y_max
        parts.append(
            f'<text x="{PAD - 4}" y="{sy + 4:.1f}" text-anchor="end" font-size="10">{y:.0f}</text>'
        )
    for i, (label, value) in enumerate(bars):
        h = (H - 2 * PAD) * value / y_max
        x = PAD + i * slot
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{H - PAD - h:.1f}" width="{max(1.0, slot - 2):.1f}" '
            f'height="{h:.1f}" fill="{COLORS[0]}"><title>{escape(label)}: {value:g}</title></rect>'
        )
        if n <= 24 or i % max(1, n // 12) == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{H - PAD + 14}" text-anchor="middle" '
                f'font-size="9">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)
