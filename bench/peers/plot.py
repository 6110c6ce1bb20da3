"""Draw docs/benchmarks.png from the rows run.py measured (run with the
peers' venv, which has matplotlib): ``python plot.py rows.json out.png``."""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"baseline": "#9e9e9e", "jwtwarden": "#1f77b4", "peer": "#d62728"}


def main(source: str, target: str) -> None:
    data = json.loads(Path(source).read_text())
    rows = data["rows"][::-1]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.6))
    bars = ax.barh(
        [r["name"] for r in rows],
        [r["ratio"] for r in rows],
        color=[COLOURS[r["side"]] for r in rows],
    )
    for bar, r in zip(bars, rows, strict=True):
        ax.text(
            bar.get_width() + 0.01,
            bar.get_y() + bar.get_height() / 2,
            f"{r['ratio']:.3g}×  ({r['rps']:,.0f} req/s)",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max(1.0, max(r["ratio"] for r in rows)) * 1.3)
    ax.set_xlabel("req/s ÷ Starlette JSON hello on the same uvicorn (higher is better)")
    ax.set_title(f"{data['date']}: {data['title']}", fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    ax.legend(handles, list(COLOURS), loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
