"""Draw ``load_tests.bench_edge`` results: what a frame costs the server, and what players feel.

Run ``python -m load_tests.plot_edge A.json [B.json ...] OUT.png``. Left: server CPU per delivered
frame in the egress variant; right: p99 input-to-state latency in the duplex variant; both against
clients, one line per server and, when several files (labels such as before/after) are given, per
label. Medians over rounds, from each file's summary; a point where fewer than 95% of the clients
were still playing when the window opened is drawn as a cross and says how many were.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PANELS = (
    ("egress", "us_per_frame", "server CPU per delivered frame (egress), us"),
    ("duplex", "lat_p99_ms", "p99 input-to-state latency (duplex), ms"),
)


def load(paths: list[Path]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(label, summary rows) per file; a label used twice gets its file name, so lines stay apart."""
    loaded: list[tuple[str, list[dict[str, Any]]]] = []
    for path in paths:
        document = json.loads(path.read_text())
        summary = document.get("summary")
        if summary is None:  # an older or hand-made file: summarize its runs here
            from load_tests.bench_edge import summarize

            summary = summarize(document["runs"])
        loaded.append((str(document.get("label") or path.stem), summary))
    labels = [label for label, _ in loaded]
    return [
        (f"{label} ({path.stem})" if labels.count(label) > 1 else label, summary)
        for (label, summary), path in zip(loaded, paths, strict=True)
    ]


def plot(series: list[tuple[str, list[dict[str, Any]]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    several = len(series) > 1
    figure, axes = plt.subplots(1, len(PANELS), figsize=(12, 4.8), constrained_layout=True)
    for axis, (variant, key, title) in zip(axes, PANELS, strict=True):
        for label, summary in series:
            servers = sorted({row["server"] for row in summary if row["variant"] == variant})
            for server in servers:
                rows = sorted(
                    (row for row in summary if row["variant"] == variant and row["server"] == server),
                    key=lambda row: row["clients"],
                )
                rows = [row for row in rows if row.get(key) is not None]
                if not rows:
                    continue
                xs = [row["clients"] for row in rows]
                ys = [row[key] for row in rows]
                (line,) = axis.plot(xs, ys, marker="o", label=f"{label}: {server}" if several else server)
                for row in rows:
                    # A point from the few clients left playing is no measurement of that many: say so.
                    ready = row.get("ready")
                    if ready is not None and ready < 0.95 * row["clients"]:
                        point = (row["clients"], row[key])
                        axis.plot(*point, marker="X", markersize=11, color=line.get_color())
                        text = f"{ready:.0f}/{row['clients']} playing"
                        axis.annotate(text, point, textcoords="offset points", xytext=(6, 6))
        axis.set_title(title)
        axis.set_xlabel("clients")
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or not args[-1].endswith(".png") or args[0] in {"-h", "--help"}:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    plot(load([Path(a) for a in args[:-1]]), Path(args[-1]))
    print(f"wrote {args[-1]}")


if __name__ == "__main__":
    main()
