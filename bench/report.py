#!/usr/bin/env python3
"""Regenerate the generated blocks of docs/benchmarks.md, and the plots in docs/bench/, from
the benchmark scripts' results in bench/results/*.json.

A generated block is everything between `<!-- generated: NAME -->` and
`<!-- end generated: NAME -->`; everything outside the blocks is hand-written and left
alone. A block whose results are missing is left as it is (and reported as skipped), so a
partial run never erases numbers it did not measure.

Results from a --quick run (`"quick": true` or `"mode": "quick"` in the JSON) are smoke tests:
they are skipped too unless --allow-quick is given.

    python3 bench/report.py                 rewrite the blocks and plots
    python3 bench/report.py --check         render every present result, write nothing
                                            (exit 1 on malformed input)
    python3 bench/report.py --allow-quick --doc /tmp/preview/benchmarks.md
                                            preview quick results away from docs/

Plots go to bench/ next to the document (docs/bench/ by default) and are linked relative to
it. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent


class ReportError(Exception):
    """Input the report cannot render: which file, where, and what was wrong."""


# ---- reading results ------------------------------------------------------------------------


@dataclass
class Result:
    """One results file, parsed."""

    name: str  # file name, e.g. "scheduler.json"
    path: Path
    data: dict[str, Any]

    @property
    def quick(self) -> bool:
        return self.data.get("quick") is True or self.data.get("mode") == "quick"

    def written(self) -> str:
        """When the file was written (its own date if it records one, else its mtime)."""
        date = self.data.get("date")
        if isinstance(date, str) and date:
            return date.replace("T", " ").replace("Z", " UTC")
        mtime = dt.datetime.fromtimestamp(self.path.stat().st_mtime, dt.timezone.utc)
        return mtime.strftime("%Y-%m-%d %H:%M UTC")


def load(results: Path, name: str) -> Result | None:
    path = results / name
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object at the top level, found {type(data).__name__}")
    return Result(name, path, data)


def get(obj: Any, path: str, kind: type | tuple[type, ...] = (int, float), *, optional: bool = False) -> Any:
    """obj[a][b]... for path "a.b"; raises ReportError naming the field when it is absent or of
    the wrong type. Numbers may be null (serde_json writes NaN as null); they come back as NaN."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif optional:
            return None
        else:
            raise KeyError(path)
    numeric = kind in ((int, float), float, int)
    if cur is None and numeric:
        return math.nan
    if numeric and isinstance(cur, bool):
        raise TypeError(f"{path}: expected a number, found {cur!r}")
    if not isinstance(cur, kind):
        want = kind.__name__ if isinstance(kind, type) else "number"
        raise TypeError(f"{path}: expected {want}, found {json.dumps(cur)[:60]}")
    return cur


def within(prefix: str, e: Exception) -> Exception:
    """The same error, with the field path prefixed by where it was found (e.g. "runs[1]")."""
    if isinstance(e, KeyError):
        return KeyError(f"{prefix}.{e.args[0]}")
    return TypeError(f"{prefix}.{e}")


def field_error(result: Result, e: Exception) -> ReportError:
    if isinstance(e, KeyError):
        return ReportError(f"{result.path}: missing field {e.args[0]!r}")
    return ReportError(f"{result.path}: {e}")


# ---- formatting -------------------------------------------------------------------------------

DASH = "–"


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def num(x: Any, digits: int = 0) -> str:
    """12345.6 -> "12,346"; NaN/None -> "–"."""
    if not finite(x):
        return DASH
    return f"{x:,.{digits}f}"


def sig(x: Any, figures: int = 2) -> str:
    """Two significant figures below 1 (0.029, 0.0073), two decimals above (1.00)."""
    if not finite(x):
        return DASH
    if x == 0 or abs(x) >= 1:
        return f"{x:,.2f}"
    decimals = figures - 1 - math.floor(math.log10(abs(x)))
    return f"{x:.{decimals}f}".rstrip("0")


def load_average(value: Any) -> str:
    """The three load averages out of a /proc/loadavg line."""
    if not isinstance(value, str) or not value.strip():
        return ""
    return " ".join(value.split()[:3])


def table(header: list[str], align: str, rows: list[list[str]]) -> str:
    """A markdown table; align is one character per column: l or r."""
    if len(align) != len(header):
        raise ValueError("one alignment per column")
    rule = "|" + "|".join("---" if a == "l" else "--:" for a in align) + "|"
    lines = ["| " + " | ".join(cells) + " |" for cells in (header, *rows)]
    return "\n".join([lines[0], rule, *lines[1:]])


def machine_line(result: Result, parts: list[str]) -> str:
    """The conditions a table was measured under, in one italic line under it."""
    shown = [p for p in parts if p]
    if not any(re.search(r"\b\d+ cores?\b", p) for p in shown):
        shown.append("cores and load average not recorded")
    shown.append(f"written {result.written()}")
    if result.quick:
        shown.append("quick run: smoke-test numbers")
    return f"_Conditions (`bench/results/{result.name}`): {', '.join(shown)}._"


def cores(n: Any) -> str:
    return f"{n} cores" if finite(n) and n != 1 else ("1 core" if n == 1 else "")


def machine(d: dict[str, Any]) -> list[str]:
    """Cores and load average from a results file's `machine` object, when it has one."""
    m = d.get("machine")
    if not isinstance(m, dict):
        return []
    load = load_average(m.get("load_average"))
    return [cores(m.get("cores")), f"load average {load}" if load else ""]


def image(plot: str, alt: str) -> str:
    return f"![{alt}](bench/{plot})"


# ---- SVG plots --------------------------------------------------------------------------------

WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM, PAD = 78, 22, 44, 58, 10
# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    dashed: bool = False


@dataclass
class Axis:
    label: str
    log: bool = False
    ticks: list[float] | None = None  # explicit ticks (e.g. the measured x values)
    zero: bool = True  # a linear axis starts at 0
    lo: float = 0.0
    hi: float = 1.0
    tick_values: list[float] = field(default_factory=list)

    def fit(self, values: list[float]) -> None:
        values = [v for v in values if finite(v) and (v > 0 or not self.log)]
        if not values:
            values = [1.0]
        lo, hi = min(values), max(values)
        if self.log:
            lo_d, hi_d = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
            if hi_d == lo_d:
                hi_d += 1
            if self.ticks:
                self.lo, self.hi = min(self.ticks + [lo]) / 1.4, max(self.ticks + [hi]) * 1.4
                self.tick_values = sorted(self.ticks)
            else:
                self.lo, self.hi = 10.0**lo_d, 10.0**hi_d
                self.tick_values = log_ticks(lo_d, hi_d)
            return
        if self.zero:
            lo = min(lo, 0.0)
        if hi == lo:
            hi = lo + (abs(lo) or 1.0)
        step = nice_step((hi - lo) / 5)
        self.lo = math.floor(lo / step) * step
        self.hi = math.ceil(hi / step) * step
        if self.ticks:
            self.tick_values = sorted(self.ticks)
        else:
            n = round((self.hi - self.lo) / step)
            self.tick_values = [self.lo + i * step for i in range(n + 1)]

    def scale(self, v: float, a: float, b: float) -> float:
        """v mapped onto the pixel range a..b."""
        if self.log:
            f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = (v - self.lo) / (self.hi - self.lo)
        return a + f * (b - a)


def nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def log_ticks(lo_d: int, hi_d: int) -> list[float]:
    decades = [10.0**d for d in range(lo_d, hi_d + 1)]
    if hi_d - lo_d <= 2:  # few decades: 2 and 5 too, so the axis is readable
        return sorted(v * m for v in decades for m in (1, 2, 5) if v * m <= 10.0**hi_d)
    return decades


def tick_label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1_000_000 and v % 1_000_000 == 0:
        return f"{v / 1_000_000:,.0f}M"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:g}"


def line_chart(title: str, x: Axis, y: Axis, series: list[Series]) -> str:
    """A self-contained SVG line chart with markers on the measured points."""
    x.fit([p[0] for s in series for p in s.points])
    y.fit([p[1] for s in series for p in s.points])
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP

    # The highest values stop short of the plot's edge, so their markers show whole.
    def px(v: float) -> float:
        return x.scale(v, x0, x1 - PAD)

    def py(v: float) -> float:
        return y.scale(v, y0, y1 + PAD)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" {FONT} font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    # Grid and ticks.
    for v in x.tick_values:
        if not (x.lo <= v <= x.hi):
            continue
        p = px(v)
        out.append(f'<line x1="{p:.1f}" y1="{y1}" x2="{p:.1f}" y2="{y0}" stroke="#e4e4e4"/>')
        out.append(f'<line x1="{p:.1f}" y1="{y0}" x2="{p:.1f}" y2="{y0 + 5}" stroke="#333"/>')
        out.append(f'<text x="{p:.1f}" y="{y0 + 19}" text-anchor="middle">{tick_label(v)}</text>')
    for v in y.tick_values:
        if not (y.lo <= v <= y.hi):
            continue
        p = py(v)
        out.append(f'<line x1="{x0}" y1="{p:.1f}" x2="{x1}" y2="{p:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<line x1="{x0 - 5}" y1="{p:.1f}" x2="{x0}" y2="{p:.1f}" stroke="#333"/>')
        out.append(f'<text x="{x0 - 8}" y="{p + 4:.1f}" text-anchor="end">{tick_label(v)}</text>')
    # Axes and their labels.
    out.append(f'<path d="M{x0},{y1} V{y0} H{x1}" fill="none" stroke="#333" stroke-width="1.2"/>')
    xl = x.label + (" (log scale)" if x.log else "")
    yl = y.label + (" (log scale)" if y.log else "")
    out.append(f'<text x="{(x0 + x1) / 2}" y="{HEIGHT - 14}" text-anchor="middle" font-size="13">{escape(xl)}</text>')
    out.append(
        f'<text transform="translate(18,{(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" '
        f'font-size="13">{escape(yl)}</text>'
    )
    # Data.
    drawn: list[tuple[float, float]] = []
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        pts = [(px(a), py(b)) for a, b in s.points if finite(a) and finite(b) and (a > 0 or not x.log) and (b > 0 or not y.log)]
        drawn.extend(pts)
        if len(pts) > 1:
            d = " ".join(f"{'M' if j == 0 else 'L'}{a:.1f},{b:.1f}" for j, (a, b) in enumerate(pts))
            dash = ' stroke-dasharray="6 4"' if s.dashed else ""
            out.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        if len(pts) <= 40 and not s.dashed:
            for a, b in pts:
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5" fill="{colour}"/>')
    out.extend(legend(series, drawn, (x0, y1, x1, y0)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def legend(series: list[Series], drawn: list[tuple[float, float]], box: tuple[float, float, float, float]) -> list[str]:
    """The legend, in the corner of the plot area that covers the fewest data points."""
    left, top, right, bottom = box
    w = 34 + 7.2 * max(len(s.name) for s in series)
    h = 8 + 18 * len(series)
    corners = [
        (left + 10, top + 8),
        (right - w - 10, top + 8),
        (right - w - 10, bottom - h - 8),
        (left + 10, bottom - h - 8),
    ]

    def covered(c: tuple[float, float]) -> int:
        cx, cy = c
        return sum(1 for a, b in drawn if cx - 6 <= a <= cx + w + 6 and cy - 6 <= b <= cy + h + 6)

    lx, ly = min(corners, key=covered)
    out = [f'<rect x="{lx:.1f}" y="{ly:.1f}" width="{w:.1f}" height="{h}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>']
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        yy = ly + 14 + 18 * i
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(f'<line x1="{lx + 8:.1f}" y1="{yy - 4:.1f}" x2="{lx + 26:.1f}" y2="{yy - 4:.1f}" stroke="{colour}" stroke-width="2.5"{dash}/>')
        if not s.dashed:
            out.append(f'<circle cx="{lx + 17:.1f}" cy="{yy - 4:.1f}" r="3.5" fill="{colour}"/>')
        out.append(f'<text x="{lx + 31:.1f}" y="{yy:.1f}">{escape(s.name)}</text>')
    return out


# ---- blocks -----------------------------------------------------------------------------------


@dataclass
class Rendered:
    text: str  # the markdown between the markers
    plots: dict[str, str]  # file name in docs/bench/ -> SVG


@dataclass
class Block:
    name: str
    sources: list[str]  # results files; the block renders when at least one is present
    render: Callable[[dict[str, Result]], Rendered]
    owns: str = ""  # glob of the plots it draws a varying number of; stale ones are removed


def render_store(res: dict[str, Result]) -> Rendered:
    rows, series, conditions = [], [], []
    for name in ("store-1.json", "store-3.json"):
        r = res.get(name)
        if r is None:
            continue
        try:
            voters = get(r.data, "voters", int)
            via = get(r.data, "via", str, optional=True) or "leader"
            points = []
            for row in get(r.data, "rows", list):
                rows.append([
                    str(voters), num(get(row, "writers")), num(get(row, "writes_per_sec")),
                    num(get(row, "p50_ms"), 2), num(get(row, "p99_ms"), 2), sig(get(row, "fsyncs_per_write")),
                ])
                points.append((get(row, "writers"), get(row, "writes_per_sec")))
            conditions.append(machine_line(r, [
                f"{voters} voter{'s' if voters != 1 else ''} (writes via the {via})",
                f"{num(get(r.data, 'value_bytes'))}-byte values",
                f"{get(r.data, 'seconds_per_level'):g} s per level",
                *machine(r.data),
            ]))
        except (KeyError, TypeError) as e:
            raise field_error(r, e) from e
        series.append(Series(f"{voters} voter{'s' if voters != 1 else ''}", sorted(points)))
    ticks = sorted({p[0] for s in series for p in s.points})
    svg = line_chart(
        "Store: durable writes/s vs concurrent writers",
        Axis("concurrent writers", log=True, ticks=ticks),
        Axis("writes/s"),
        series,
    )
    text = "\n\n".join([
        table(["voters", "writers", "writes/s", "p50 ms", "p99 ms", "fsyncs / write"], "rrrrrr", rows),
        image("store-writes.svg", "store writes/s vs concurrent writers, 1 and 3 voters"),
        "\n\n".join(conditions),
    ])
    return Rendered(text, {"store-writes.svg": svg})


def render_api_writes(res: dict[str, Result]) -> Rendered:
    r = res["api.json"]
    try:
        rows = [
            [num(get(w, "writers")), num(get(w, "writes_per_sec")), num(get(w, "p50_ms"), 2), num(get(w, "p99_ms"), 2)]
            for w in get(r.data, "api_writes", list)
        ]
        writes = [num(get(w, "writes")) for w in get(r.data, "api_writes", list)]
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e
    text = "\n\n".join([
        table(["writers", "writes/s", "p50 ms", "p99 ms"], "rrrr", rows),
        machine_line(r, [f"{' and '.join(writes)} creates per level", *machine(r.data)]),
    ])
    return Rendered(text, {})


def render_api_footprint(res: dict[str, Result]) -> Rendered:
    r = res["api.json"]
    d = r.data
    try:
        writes = sum(get(w, "writes") for w in get(d, "api_writes", list))
        rows = [["`tutti dev` start → API ready (`/readyz` ok)", f"{num(get(d, 'ready_ms'))} ms"]]
        written = get(d, "kubeconfig_written_ms", optional=True)
        if written is not None:
            rows.append(["`tutti dev` start → kubeconfig written", f"{num(written)} ms"])
        rows += [
            ["idle RSS of `tutti dev`", f"{num(get(d, 'idle_rss_kib') / 1024, 1)} MiB"],
            [f"RSS after {num(writes)} writes", f"{num(get(d, 'rss_after_writes_kib') / 1024, 1)} MiB"],
        ]
        idle_cpu = get(d, "idle_cpu", optional=True)
        if idle_cpu is not None:
            rows.append(["idle CPU of `tutti dev`", f"{num(idle_cpu * 100, 1)}% of a core"])
        binary = get(d, "binary_bytes", optional=True)
        if binary is not None:
            rows.append(["`tutti` binary, as built (release strips symbols)", f"{num(binary / 1048576, 1)} MiB"])
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e
    text = "\n\n".join([table(["what", "measured"], "lr", rows), machine_line(r, machine(d))])
    return Rendered(text, {})


def render_proxy(res: dict[str, Result]) -> Rendered:
    r = res["proxy.json"]
    d = r.data

    def lat(who: str, p: str) -> str:
        return f"{num(get(d, f'latency.{who}.{p}_us'))} µs"

    def rps(who: str) -> str:
        return num(get(d, f"throughput.{who}.rps"))

    try:
        errors = get(d, "throughput.direct.errors") + get(d, "throughput.proxy.errors")
        body = table(["what", "direct to a backend", "through the service VIP"], "lrr", [
            ["latency per request, p50", lat("direct", "p50"), lat("proxy", "p50")],
            ["latency per request, p99", lat("direct", "p99"), lat("proxy", "p99")],
            [
                f"requests/s, {num(get(d, 'throughput.clients'))} concurrent clients, {get(d, 'throughput.seconds'):g} s",
                rps("direct"), rps("proxy"),
            ],
        ])
        conditions = machine_line(r, [
            f"{num(get(d, 'sequential_requests'))} sequential requests per latency cell",
            f"{num(errors)} errors in the requests/s runs",
            *machine(d),
        ])
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e
    return Rendered("\n\n".join([body, conditions]), {})


def render_proxy_changes(res: dict[str, Result]) -> Rendered:
    r = res["proxy.json"]
    d = r.data

    def us(x: Any) -> str:
        return f"{num(x)} µs" if not finite(x) or x < 1000 else f"{num(x / 1000, 1)} ms"

    try:
        def change(what: str, key: str) -> list[str]:
            return [what, *(us(get(d, f"changes.{key}.{p}_us")) for p in ("p50", "p99", "max"))]

        body = table(["change (snapshot published → first request that sees it)", "p50", "p99", "max"], "lrrr", [
            change("endpoint removed: first request that avoids it", "endpoint_removed"),
            change("endpoint added: first request that reaches it", "endpoint_added"),
            change("service added: first request through its new socket", "service_added"),
        ])
        after = (
            f"After a removal, {num(get(d, 'changes.endpoint_removed_stale_hits'))} of "
            f"{num(get(d, 'changes.endpoint_removed_checked'))} later requests reached the removed endpoint; "
            f"an added one was reached within {num(get(d, 'changes.endpoint_added_requests_max'))} requests."
        )
        conditions = machine_line(r, [f"{num(get(d, 'changes.rounds'))} rounds of each change", *machine(d)])
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e
    return Rendered("\n\n".join([body, after, conditions]), {})


SCHED_A, SCHED_B = "fit+selector+taints", "anti-affinity/spread"


def scheduler_rows(r: Result) -> list[dict[str, Any]]:
    try:
        rows = get(r.data, "results", list)
        for i, row in enumerate(rows):
            try:
                get(row, "scenario", str), get(row, "nodes"), get(row, "pods_per_s")
            except (KeyError, TypeError) as e:
                raise within(f"results[{i}]", e) from e
        return rows
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e


def scheduler_conditions(r: Result) -> str:
    d = r.data
    without = get(d, "without_plugins", list, optional=True) or []
    return machine_line(r, [
        f"{num(get(d, 'threads', optional=True) or 1)} thread",
        cores(get(d, "cores", optional=True)),
        f"load average {load_average(get(d, 'load_average_before', str, optional=True))} before, "
        f"{load_average(get(d, 'load_average_after', str, optional=True))} after",
        f"profile {get(d, 'profile', str, optional=True) or '?'}",
        f"seed {get(d, 'seed', optional=True)}",
        f"without {', '.join(without)}" if without else "",
    ])


def render_scheduler(res: dict[str, Result]) -> Rendered:
    r = res["scheduler.json"]
    d = r.data
    rows = scheduler_rows(r)
    try:
        body = [
            [
                row["scenario"], num(row["nodes"]), num(get(row, "pods")), num(row["pods_per_s"]),
                num(get(row, "p50_us")), num(get(row, "p99_us")), num(get(row, "unschedulable")),
                num(get(row, "nodes_evaluated_per_placed_pod")),
            ]
            for row in rows
        ]
        conditions = scheduler_conditions(r)
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e
    series = []
    for scenario in dict.fromkeys(row["scenario"] for row in rows):
        pts = sorted((row["nodes"], row["pods_per_s"]) for row in rows if row["scenario"] == scenario)
        series.append(Series(scenario, pts))
    node_counts = sorted({row["nodes"] for row in rows})
    target = Series("target: 10,000 pods/s", [(node_counts[0], 10_000), (node_counts[-1], 10_000)], dashed=True)
    svg = line_chart(
        "Scheduler placement core: pods/s vs nodes",
        Axis("nodes", log=True, ticks=node_counts),
        Axis("pods/s", log=True),
        series + [target],
    )
    text = "\n\n".join([
        table(
            ["scenario", "nodes", "pods", "pods/s", "p50 µs", "p99 µs", "did not fit", "nodes filtered / pod"],
            "lrrrrrrr", body,
        ),
        image("scheduler.svg", "scheduler pods/s vs node count, both scenarios"),
        conditions,
    ])
    return Rendered(text, {"scheduler.svg": svg})


def render_scheduler_kinds(res: dict[str, Result]) -> Rendered:
    r = res["scheduler.json"]
    rows = [row for row in scheduler_rows(r) if row["scenario"] == SCHED_B]
    if not rows:
        raise ReportError(f"{r.path}: no {SCHED_B!r} rows for the per-kind table")
    try:
        kinds: dict[str, dict[int, dict[str, Any]]] = {}
        for row in rows:
            for k in get(row, "kinds", list):
                kinds.setdefault(get(k, "kind", str), {})[row["nodes"]] = k
        header = ["B, kind of pod"]
        for row in rows:
            header += [f"{num(row['nodes'])} nodes p50 µs", "share of time"]
        body = []
        for kind, by_nodes in kinds.items():
            cells = [f"`{kind}`"]
            for row in rows:
                k = by_nodes.get(row["nodes"])
                cells += [num(get(k, "p50_us")), f"{num(get(k, 'time_share') * 100)}%"] if k else [DASH, DASH]
            body.append(cells)
        conditions = scheduler_conditions(r)
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e
    text = "\n\n".join([table(header, "l" + "r" * (len(header) - 1), body), conditions])
    return Rendered(text, {})


def cluster_run(i: int, run: dict[str, Any], nodes: int) -> tuple[list[str], str, str, str]:
    """One run of the cluster bench: its table row, and its timeline plot (name, SVG, alt text)."""
    mode, pods = get(run, "mode", str), get(run, "pods")
    flags = []
    if get(run, "failed_creates") > 0:
        flags.append(f"{num(run['failed_creates'])} creates failed")
    if get(run, "timed_out", bool):
        flags.append("**timed out**")

    def pair(a: str, b: str, digits: int = 1) -> str:
        return f"{num(get(run, a), digits)} / {num(get(run, b), digits)}"

    row = [
        mode + (f" ({'; '.join(flags)})" if flags else ""), num(pods),
        num(get(run, "creates_per_s")), num(get(run, "bound_per_s")), num(get(run, "running_per_s")),
        pair("create_p50_ms", "create_p99_ms") if mode == "pods" else DASH,
        pair("probe_get_p50_ms", "probe_get_p99_ms"),
        pair("watch_delay_p50_ms", "watch_delay_p99_ms") if mode == "pods" else DASH,
        f"{num(get(run, 'list_all_ms'))} / {num(get(run, 'list_all_rv0_ms'))}",
        pair("server_rss_peak_mib", "server_rss_after_mib", 0),
        num(get(run, "server_cpu_s"), 1),
        num(get(run, "delete_s", optional=True), 1),
    ]
    timeline = get(run, "timeline", list)
    if any(not isinstance(p, list) or len(p) != 4 for p in timeline):
        raise TypeError("timeline: expected [t_seconds, created, bound, running] entries")
    series = [
        Series(label, [(p[0], p[k]) for p in timeline]) for k, label in ((1, "created"), (2, "bound"), (3, "running"))
    ]
    svg = line_chart(
        f"{mode}: {num(pods)} pods on {num(nodes)} hollow nodes",
        Axis("seconds since the first create"),
        Axis("pods"),
        series,
    )
    alt = f"run {i + 1}: pods created, bound and running over time ({mode}, {num(pods)} pods)"
    return row, f"cluster-run{i + 1}-{mode}-{pods}.svg", svg, alt


def render_cluster(res: dict[str, Result]) -> Rendered:
    r = res["cluster.json"]
    d = r.data
    plots, images = {}, []
    try:
        nodes = get(d, "nodes")
        once = table(["what", "measured"], "lr", [
            ["`tutti server` start → `/readyz` ok", f"{num(get(d, 'server_ready_ms'))} ms"],
            ["server idle RSS, no nodes", f"{num(get(d, 'server_idle_rss_mib'), 1)} MiB"],
            [f"{num(nodes)} hollow nodes started → all Ready", f"{num(get(d, 'nodes_ready_s'), 1)} s"],
            [f"server RSS with {num(nodes)} nodes", f"{num(get(d, 'server_rss_with_nodes_mib'), 1)} MiB"],
            [
                "node lease duration (heartbeat budget) → settled after",
                f"{num(get(d, 'lease_duration_s'))} s → {num(get(d, 'leases_settled_s'), 1)} s",
            ],
            [
                f"server CPU, idle with {num(nodes)} nodes renewing leases",
                f"{num(get(d, 'server_idle_cpu_with_nodes') * 100)}% of a core",
            ],
            [
                f"hollow agent ({num(nodes)} nodes in one process): RSS at start / at the end",
                f"{num(get(d, 'hollow_rss_mib'), 1)} / {num(get(d, 'hollow_rss_end_mib'), 1)} MiB",
            ],
            ["hollow agent CPU, idle", f"{num(get(d, 'hollow_idle_cpu') * 100)}% of a core"],
        ])
        body = []
        for i, run in enumerate(get(d, "runs", list)):
            try:
                row, plot, svg, alt = cluster_run(i, run, nodes)
            except (KeyError, TypeError) as e:
                raise within(f"runs[{i}]", e) from e
            body.append(row)
            plots[plot] = svg
            images.append(image(plot, alt))
        runs = table(
            [
                "mode", "pods", "creates/s", "bound/s", "running/s", "create p50 / p99 ms", "GET p50 / p99 ms",
                "watch delay p50 / p99 ms", "LIST all ms (rv=0)", "server RSS peak / after MiB", "server CPU s",
                "delete s",
            ],
            "lrrrrrrrrrrr", body,
        )
        conditions = machine_line(r, [
            cores(get(d, "machine.cores", optional=True)),
            f"load average {load_average(get(d, 'machine.load_average', str, optional=True))} at the end",
            f"{num(nodes)} hollow nodes",
            f"{num(get(d, 'writers'))} writers",
        ])
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e
    return Rendered("\n\n".join([once, runs, conditions, *images]), plots)


def render_swarm(res: dict[str, Result]) -> Rendered:
    r = res["swarm.json"]
    d = r.data
    try:
        def mm(side: dict[str, Any]) -> str:
            med, lo, hi = get(side, "median"), get(side, "min"), get(side, "max")
            return f"{med:.2f}" if lo == hi else f"{med:.2f} ({lo:.2f}–{hi:.2f})"

        def ratio(x: Any) -> str:
            return f"{x:.2f}" if finite(x) else DASH

        converge = [
            [num(get(c, "replicas")), mm(get(c, "swarm", dict)), mm(get(c, "tutti", dict)), ratio(get(c, "ratio"))]
            for c in get(d, "converge", list)
        ]
        remove = [
            [num(get(c, "replicas")), mm(get(c, "swarm", dict)), mm(get(c, "tutti", dict)), ratio(get(c, "ratio"))]
            for c in get(d, "remove", list)
        ]
        k = get(d, "kill_to_replacement", dict)
        kill = [
            ["default (restart delay 5 s)", mm(get(k, "swarm", dict)), mm(get(k, "tutti", dict)), ratio(get(k, "ratio"))],
            [
                "`--restart-delay 0s`", mm(get(k, "swarm_restart_delay_0", dict)), mm(get(k, "tutti", dict)),
                ratio(get(k, "ratio_vs_restart_delay_0")),
            ],
        ]
        m = get(d, "machine", dict, optional=True) or {}
        runs = get(d, "runs", optional=True)
        conditions = machine_line(r, [
            cores(m.get("cores")), m.get("cpu", ""),
            f"load average {m.get('loadavg_start', '?')} at the start, {m.get('loadavg_end', '?')} at the end",
            f"Docker {m['docker_version']}" if m.get("docker_version") else "",
            f"tutti {d['tutti_commit']}" if d.get("tutti_commit") else "",
            f"median of {num(runs)} run{'s' if runs != 1 else ''}" if finite(runs) else "",
        ])
        series = [
            Series(who, sorted((get(c, "replicas"), get(c, f"{key}.median")) for c in get(d, "converge", list)))
            for who, key in (("Docker Swarm", "swarm"), ("tutti", "tutti"))
        ]
        kill_replicas = num(get(k, "replicas"))
    except (KeyError, TypeError) as e:
        raise field_error(r, e) from e
    svg = line_chart(
        "Seconds to converge vs replicas: Docker Swarm and tutti",
        Axis("replicas"),
        Axis("seconds until all running and reported"),
        series,
    )
    head = ["replicas", "Swarm s", "tutti s", "tutti / Swarm"]
    text = "\n\n".join([
        "Converge (command → N containers running and reported):",
        table(head, "rrrr", converge),
        image("swarm-converge.svg", "seconds to converge vs replicas, Docker Swarm and tutti"),
        "Remove (delete → containers gone):",
        table(head, "rrrr", remove),
        f"Kill → replacement running and reported ({kill_replicas} replicas):",
        table(["Swarm's restart delay", "Swarm s", "tutti s", "tutti / Swarm"], "lrrr", kill),
        "Times are medians, with min–max when there was more than one run. " + conditions,
    ])
    return Rendered(text, {"swarm-converge.svg": svg})


def render_targets(res: dict[str, Result]) -> Rendered:
    rows: list[list[str]] = []

    def row(target: str, goal: str, source: str, measured: str | None, met: bool | None) -> None:
        verdict = DASH if met is None else ("**yes**" if met else "**no**")
        result = res.get(source.strip("`"))
        if measured is not None and result is not None and result.quick:
            measured += " (quick run)"
        rows.append([target, goal, measured if measured is not None else "not measured", verdict, source])

    # Placement.
    sched = res.get("scheduler.json")
    value = None
    if sched:
        for r in scheduler_rows(sched):
            if r["scenario"] == SCHED_A and r["nodes"] == 5000:
                value = r["pods_per_s"]
    row(
        "placement, scheduler core, 5,000 nodes (fit+selector+taints)", "≥ 10,000 pods/s", "`scheduler.json`",
        f"{num(value)} pods/s" if finite(value) else None, value >= 10_000 if finite(value) else None,
    )
    # Create → bound and memory at scale.
    cluster = res.get("cluster.json")
    best, big, nodes = None, None, None
    if cluster:
        try:
            nodes = get(cluster.data, "nodes")
            for run in get(cluster.data, "runs", list):
                if get(run, "mode", str) == "pods" and finite(get(run, "bound_per_s")) and not get(run, "timed_out", bool):
                    if best is None or run["bound_per_s"] > best["bound_per_s"]:
                        best = run
                # The worst of the 150,000-pod runs (bare pods and Deployment).
                if get(run, "pods") == 150_000 and (big is None or get(run, "server_rss_peak_mib") > big["server_rss_peak_mib"]):
                    big = run
        except (KeyError, TypeError) as e:
            raise field_error(cluster, e) from e
    row(
        "create → bound, end to end (best bare-pods run)", "≥ 2,000 pods/s", "`cluster.json`",
        f"{num(best['bound_per_s'])} pods/s ({num(best['pods'])} pods, {num(nodes)} nodes)" if best else None,
        best["bound_per_s"] >= 2000 if best else None,
    )
    peak = get(big, "server_rss_peak_mib") if big else None
    # A run that timed out never held all its pods: its peak says nothing about the target.
    complete = big is not None and not big["timed_out"]
    row(
        "server memory, 5,000 nodes + 150,000 pods", "≤ 2 GB", "`cluster.json`",
        f"{num(peak)} MiB peak ({big['mode']}, {num(nodes)} nodes{'' if complete else ', timed out'})"
        if finite(peak) else None,
        # Only a complete run at full scale can meet it; others are shown without a verdict.
        (peak * 1048576 <= 2e9) if finite(peak) and complete and finite(nodes) and nodes >= 5000 else None,
    )
    # tutti dev.
    api = res.get("api.json")
    idle = ready = None
    if api:
        try:
            idle, ready = get(api.data, "idle_rss_kib"), get(api.data, "ready_ms")
            cpu = get(api.data, "idle_cpu", optional=True)
        except (KeyError, TypeError) as e:
            raise field_error(api, e) from e
    idle_text = None
    if finite(idle):
        idle_text = f"{num(idle / 1024, 1)} MiB RSS" + (f", {num(cpu * 100, 1)}% of a core" if finite(cpu) else "")
    row("idle `tutti dev`", "≤ 50 MB", "`api.json`", idle_text, idle * 1024 <= 50e6 if finite(idle) else None)
    row(
        "`tutti dev` start → ready", "≤ 1 s", "`api.json`",
        f"{num(ready)} ms" if finite(ready) else None, ready <= 1000 if finite(ready) else None,
    )
    # Against Swarm.
    swarm = res.get("swarm.json")
    ratio = None
    if swarm:
        try:
            for c in get(swarm.data, "converge", list):
                if get(c, "replicas") == 100:
                    ratio = get(c, "ratio")
        except (KeyError, TypeError) as e:
            raise field_error(swarm, e) from e
    row(
        "100 replicas converge, tutti vs Docker Swarm", "≤ 0.5 × Swarm's time", "`swarm.json`",
        f"{ratio:.2f} × Swarm's time" if finite(ratio) else None, ratio <= 0.5 if finite(ratio) else None,
    )
    used = [f"`{r.name}` {r.written()}" + (" (quick run)" if r.quick else "") for r in res.values()]
    text = "\n\n".join([
        table(["target", "goal", "measured", "met", "from"], "lllll", rows),
        f"_Results used: {', '.join(used)}; conditions under each table below._",
    ])
    return Rendered(text, {})


BLOCKS = [
    Block("targets", ["scheduler.json", "cluster.json", "api.json", "swarm.json"], render_targets),
    Block("store", ["store-1.json", "store-3.json"], render_store),
    Block("api-writes", ["api.json"], render_api_writes),
    Block("api-footprint", ["api.json"], render_api_footprint),
    Block("cluster", ["cluster.json"], render_cluster, owns="cluster-run*.svg"),
    Block("proxy", ["proxy.json"], render_proxy),
    Block("proxy-changes", ["proxy.json"], render_proxy_changes),
    Block("scheduler", ["scheduler.json"], render_scheduler),
    Block("scheduler-kinds", ["scheduler.json"], render_scheduler_kinds),
    Block("swarm", ["swarm.json"], render_swarm),
]

# ---- the document -----------------------------------------------------------------------------

MARKER = re.compile(r"<!--\s*(end )?generated:\s*([A-Za-z0-9_.-]+)\s*-->")


@dataclass
class Span:
    name: str
    start: int  # end of the opening marker
    end: int  # start of the closing marker


def find_blocks(doc: str, path: Path) -> list[Span]:
    spans, open_ = [], None
    for m in MARKER.finditer(doc):
        line = doc.count("\n", 0, m.start()) + 1
        closing, name = bool(m.group(1)), m.group(2)
        if not closing:
            if open_:
                raise ReportError(f"{path}:{line}: block {name!r} opens inside block {open_[0]!r}")
            open_ = (name, m.end(), line)
        else:
            if not open_ or open_[0] != name:
                raise ReportError(f"{path}:{line}: 'end generated: {name}' without its opening marker")
            spans.append(Span(name, open_[1], m.start()))
            open_ = None
    if open_:
        raise ReportError(f"{path}:{open_[2]}: block {open_[0]!r} is never closed")
    names = [s.name for s in spans]
    for n in set(names):
        if names.count(n) > 1:
            raise ReportError(f"{path}: block {n!r} appears {names.count(n)} times")
    return spans


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="render every present result (quick ones too) and write nothing")
    ap.add_argument("--allow-quick", action="store_true", help="use results of --quick runs in the document")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results", help="default: bench/results")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md", help="default: docs/benchmarks.md")
    args = ap.parse_args()

    try:
        doc = args.doc.read_text()
        spans = find_blocks(doc, args.doc)
        names = {s.name for s in spans}
        for s in spans:
            if s.name not in {b.name for b in BLOCKS}:
                print(f"warning: {args.doc}: unknown block {s.name!r} left as is", file=sys.stderr)
        files = sorted({f for b in BLOCKS for f in b.sources})
        results: dict[str, Result] = {}
        absent: dict[str, str] = {}  # file -> why it is not used
        for f in files:
            r = load(args.results, f)
            if r is None:
                absent[f] = "missing"
            elif r.quick and not (args.check or args.allow_quick):
                absent[f] = "from a --quick run (--allow-quick uses it)"
            else:
                results[f] = r
        rendered: dict[str, Rendered] = {}
        for b in BLOCKS:
            have = {f: results[f] for f in b.sources if f in results}
            if not have:
                if b.name in names:
                    why = "; ".join(f"{f} {absent[f]}" for f in b.sources)
                    print(f"skipped block {b.name!r}, left as is: {why} (in {args.results})")
                continue
            rendered[b.name] = b.render(have)
            if b.name not in names and not args.check:
                print(f"warning: {args.doc} has no block {b.name!r}; its table is not shown", file=sys.stderr)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    if args.check:
        plots = sum(len(r.plots) for r in rendered.values())
        print(f"ok: {len(results)} results file(s) render into {len(rendered)} block(s) and {plots} plot(s); nothing written")
        return 0

    out, pos = [], 0
    for s in spans:
        out.append(doc[pos:s.start])
        out.append(f"\n{rendered[s.name].text}\n" if s.name in rendered else doc[s.start:s.end])
        pos = s.end
    out.append(doc[pos:])
    plot_dir = args.doc.parent / "bench"
    written = [r for n, r in rendered.items() if n in names and r.plots]
    if written:
        plot_dir.mkdir(parents=True, exist_ok=True)
    for b in BLOCKS:
        if b.owns and b.name in rendered and b.name in names:
            for old in plot_dir.glob(b.owns):
                if old.name not in rendered[b.name].plots:
                    old.unlink()
    for r in written:
        for name, svg in r.plots.items():
            (plot_dir / name).write_text(svg)
    new = "".join(out)
    if new != doc:
        tmp = args.doc.with_name(args.doc.name + ".tmp")
        tmp.write_text(new)
        os.replace(tmp, args.doc)
    shown = sorted(n for n in rendered if n in names)
    print(f"updated {args.doc}: block(s) {', '.join(shown) or 'none'}; {sum(len(r.plots) for r in written)} plot(s) in {plot_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
