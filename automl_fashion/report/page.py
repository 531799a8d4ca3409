"""The report's HTML page: numbers formatted for people, a dash for anything missing, text
from the study escaped, images referenced by relative path (the folder is self-contained).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from automl_fashion.model import printable
from automl_fashion.tables import MISSING, human_bytes


def missing(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return value is None
    try:
        import pandas as pd

        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        return False
    return isinstance(value, float) and not math.isfinite(value)


def pct(value: object, digits: int = 2) -> str:
    return MISSING if missing(value) else f"{float(value):.{digits}%}"  # type: ignore[arg-type]


def interval(low: object, high: object) -> str:
    """A 95% interval as ``low–high``, or the blank when it is not known."""
    return MISSING if missing(low) else f"{pct(low)}–{pct(high)}"


def seconds(value: object) -> str:
    if missing(value):
        return MISSING
    v = float(value)  # type: ignore[arg-type]
    if v < 1:
        return f"{v:.2f} s"
    if v < 60:
        return f"{v:.1f} s"
    if v < 3600:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


def ms(value: object) -> str:
    return MISSING if missing(value) else f"{float(value):,.1f} ms"  # type: ignore[arg-type]


def size(value: object) -> str:
    return human_bytes(value)


def count(value: object) -> str:
    return MISSING if missing(value) else f"{int(value):,}"  # type: ignore[call-overload]


def text(value: object) -> str:
    """Untrusted text from the study, escaped for HTML (control characters shown)."""
    return MISSING if missing(value) or value == "" else html.escape(printable(str(value)))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """An HTML table of already-escaped cells; ``align`` has an ``l`` or ``r`` per column
    (default: the first column left, the others right)."""
    align = align or "l" + "r" * (len(headers) - 1)

    def cls(i: int) -> str:
        return " class=num" if align[i : i + 1] == "r" else ""

    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def figure(src: str, caption: str, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return (
        f'<figure{cls}><img src="{html.escape(src)}" alt="{html.escape(caption)}" '
        f'loading="eager"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


@dataclass
class Thumb:
    src: str
    index: int
    true: int
    pred: int
    prob: float
    width: int = 56
    height: int = 56


def gallery(thumbs: Sequence[Thumb], classes: Sequence[str], kind: str) -> str:
    """Thumbnails captioned with the true class, the prediction and its probability;
    ``kind`` names the gallery in each figure's ``data-gallery`` (tests read it)."""
    cells = "".join(
        f'<figure class="thumb" data-gallery="{kind}" data-val-index="{t.index}" '
        f'data-true="{t.true}" '
        f'data-pred="{t.pred}"><img src="{html.escape(t.src)}" width="{t.width}" '
        f'height="{t.height}" '
        f'alt="validation image {t.index}"><figcaption><b>{html.escape(classes[t.true])}</b>'
        f"<br>as {html.escape(classes[t.pred])} {t.prob:.0%}</figcaption></figure>"
        for t in thumbs
    )
    return f'<div class="gallery">{cells}</div>'


@dataclass
class Page:
    title: str
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # id, heading, body

    def add(self, anchor: str, heading: str, *parts: str) -> None:
        self.sections.append((anchor, heading, "\n".join(p for p in parts if p)))

    def render(self) -> str:
        nav = " · ".join(f'<a href="#{a}">{html.escape(h)}</a>' for a, h, _ in self.sections)
        body = "\n".join(
            f'<section id="{a}"><h2>{html.escape(h)}</h2>\n{b}</section>'
            for a, h, b in self.sections
        )
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(self.title)}</title>
<style>{CSS}</style></head>
<body><header><h1>{html.escape(self.title)}</h1><nav>{nav}</nav></header>
{body}
</body></html>
"""


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:0 1rem 3rem;
max-width:1100px;line-height:1.45;color:#222}
h1{font-size:1.5rem;margin:1rem 0 .3rem}h2{font-size:1.2rem;border-bottom:1px solid #ddd;
padding-bottom:.2rem;margin-top:2rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
nav{font-size:.9rem}nav a{color:#1f5fa8}
.scroll{overflow-x:auto;margin:.5rem 0}
table{border-collapse:collapse;font-size:.85rem}th,td{border-bottom:1px solid #e3e3e3;
padding:.25rem .55rem;text-align:left;white-space:nowrap}th{background:#f5f5f5}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.best{font-weight:700}
figure{margin:.5rem 0 1rem;max-width:100%}figure img{max-width:100%;height:auto}
figcaption{font-size:.8rem;color:#555}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:.6rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.5rem .7rem}
.card .v{font-size:1.25rem;font-weight:600}.card .k{font-size:.75rem;color:#666}
.gallery{display:flex;flex-wrap:wrap;gap:.4rem}
figure.thumb{width:88px;margin:0;text-align:center}figure.thumb img{image-rendering:pixelated;
border:1px solid #ccc}figure.thumb figcaption{font-size:.68rem;line-height:1.2}
.note{color:#666;font-style:italic}
"""


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Summary tiles: (label, value, detail), all already escaped."""
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div>'
            f'<div class="k">{d}</div></div>'
            for k, v, d in items
        )
        + "</div>"
    )


def note(message: str) -> str:
    return f'<p class="note">{html.escape(message)}</p>'


def bullets(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if items else ""


def cell(value: Any, kind: str) -> str:
    """Format one value by kind: pct, seconds, ms, size, count, text."""
    return {"pct": pct, "seconds": seconds, "ms": ms, "size": size, "count": count}.get(kind, text)(
        value
    )
