"""Write the results into docs/performance.md (between markers) and plot docs/performance.png."""

from __future__ import annotations

import math
from pathlib import Path

from ._common import Result

DOCS = Path(__file__).resolve().parent.parent / "docs"
MARKDOWN = DOCS / "performance.md"
PLOT = DOCS / "performance.png"
START_MARK = "<!-- bench:start -->"
END_MARK = "<!-- bench:end -->"


def results_block(table: str, header: list[str], notes: list[str]) -> str:
    lines = [START_MARK, "", *header, "", "```text", table, "```", ""]
    if notes:
        lines += [f"- {note}" for note in notes] + [""]
    lines.append(END_MARK)
    return "\n".join(lines)


def write_markdown(block: str, path: Path = MARKDOWN) -> bool:
    """Replace the text between the markers; False when the file or its markers are missing."""
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        return False
    path.write_text(text[:start] + block + text[end + len(END_MARK) :], encoding="utf-8")
    return True


def plot(results: dict[str, Result], path: Path = PLOT) -> bool:
    """Draw one panel per benchmark that ran; False when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [key for key, source in _SOURCES.items() if source in results]
    if not panels:
        return False
    cols = 3 if len(panels) > 4 else 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, key in zip(axes.flat, panels, strict=False):
        _PANELS[key](ax, results[_SOURCES[key]])
    fig.suptitle("alohub_async benchmarks (FakeAlohub on 127.0.0.1, ratios from one run)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _bars(ax, labels, values, *, goal=None, goal_label="", fmt="{:.2f}", color="tab:blue"):  # type: ignore[no-untyped-def]
    bars = ax.bar(range(len(values)), values, color=color)
    ax.set_xticks(range(len(values)), labels, rotation=20, ha="right", fontsize=8)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(fmt.format(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)  # fmt: skip
    if goal is not None:
        ax.axhline(goal, color="tab:red", linestyle="--", linewidth=1, label=goal_label)
        ax.legend(fontsize=8, loc="lower right")


def _p1(ax, result: Result) -> None:  # type: ignore[no-untyped-def]
    fraction = result.data["fraction"]
    names = {"baseline": "baseline", "raw": "raw c=8", "httpx": "httpx seq"}
    labels = [names.get(k, k) for k in fraction]
    colors = ["tab:gray" if k in names else "tab:blue" for k in fraction]
    _bars(ax, labels, list(fraction.values()), goal=0.90, goal_label="goal at c=8", color=colors)
    ax.set_ylim(0, 1.1)
    ax.set_title("P1 listing: fraction of ideal", fontsize=10)


def _p1wall(ax, result: Result) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.ticker

    from .p1_listing import CONCURRENCIES, ideal

    times, pages, latency = result.data["times"], result.data["pages"], result.data["latency"]
    walls = [sorted(times[f"c={c}"])[len(times[f"c={c}"]) // 2] for c in CONCURRENCIES]
    ax.plot(CONCURRENCIES, walls, "o-", label="iter_calls")
    ax.plot(CONCURRENCIES, [ideal(pages, c, latency) for c in CONCURRENCIES], "k--", label="ideal")
    base = sorted(times["baseline"])[len(times["baseline"]) // 2]
    ax.axhline(base, color="tab:gray", linestyle=":", label="sequential baseline")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(CONCURRENCIES, [str(c) for c in CONCURRENCIES])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("concurrency")
    ax.set_ylabel("wall time (s)")
    ax.legend(fontsize=8)
    ax.set_title(f"P1 listing: {result.data['calls']:,} calls, wall time", fontsize=10)


def _p2(ax, result: Result) -> None:  # type: ignore[no-untyped-def]
    rate = result.data["rate"]
    names = {
        "floor": "json.loads",
        "ours": "ours",
        "pydantic": "pydantic\nmodel_validate",
        "hand": "hand-written",
        "pydantic_json": "pydantic\nvalidate_json",
        "orjson_floor": "orjson.loads",
        "ours_orjson": "ours+orjson",
    }
    keys = [k for k in names if k in rate]
    colors = ["tab:orange" if k.startswith("ours") else "tab:gray" for k in keys]
    ax.barh(range(len(keys)), [rate[k] / 1000 for k in keys], color=colors)
    ax.set_yticks(range(len(keys)), [names[k] for k in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("thousand records / s (higher is better)")
    ax.set_title("P2 decode + structure, per-record CPU", fontsize=10)


def _p3(ax, result: Result) -> None:  # type: ignore[no-untyped-def]
    reports = result.data["reports"]
    labels = [f"{calls:,}" for calls in reports]
    _bars(ax, labels, [r["maxrss_kb"] / 1024 for r in reports.values()], fmt="{:.1f} MB")
    ax.set_ylabel("client peak RSS (MB)")
    ax.set_xlabel("records streamed")
    ax.set_title(f"P3 memory: +{result.data['diff_mb']:.1f} MB (goal <= 25 MB)", fontsize=10)


def _p4(ax, result: Result) -> None:  # type: ignore[no-untyped-def]
    fraction = result.data["fraction"]
    labels = ["iter_call_details" if k == "ours" else "raw waves (ref)" for k in fraction]
    colors = ["tab:blue" if k == "ours" else "tab:gray" for k in fraction]
    _bars(ax, labels, list(fraction.values()), goal=0.85, goal_label="goal", color=colors)
    ax.set_ylim(0, 1.1)
    ax.set_title("P4 detail fan-out: fraction of ideal", fontsize=10)


def _scaling(ax, result: Result) -> None:  # type: ignore[no-untyped-def]
    per_k, cpu = result.data["per_k"], result.data["cpu_per_k"]
    sizes = list(per_k)
    ax.plot(sizes, [per_k[n] * 1000 for n in sizes], "o-", label="wall")
    ax.plot(sizes, [cpu[n] * 1000 for n in sizes], "s--", label="client CPU")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("calls listed")
    ax.set_ylabel("ms per 1,000 records")
    ax.legend(fontsize=8)
    ax.set_title("Scaling: time per 1k records", fontsize=10)


_SOURCES = {"p1": "p1", "p1wall": "p1", "p2": "p2", "p3": "p3", "p4": "p4", "scaling": "scaling"}
_PANELS = {"p1": _p1, "p1wall": _p1wall, "p2": _p2, "p3": _p3, "p4": _p4, "scaling": _scaling}
