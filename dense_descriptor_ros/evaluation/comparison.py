"""One table and one PCK plot comparing every evaluated model of a run folder.

``python -m dense_descriptor_ros.evaluation.comparison EVAL_DIR OUT.md`` reads
``EVAL_DIR/<model>/metrics.json`` and ``predictions.json`` as ``ddr evaluate`` writes them.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from dense_descriptor_ros.evaluation.pairs import load_pairs
from dense_descriptor_ros.evaluation.predict import collect_errors
from dense_descriptor_ros.evaluation.report import markdown_table, plot_pck_curve, write_markdown_table

COLUMNS = ("model", "count", "pck@3", "pck@5", "pck@10", "pck@25", "pck@50", "auc@50", "auc@100",
           "mean", "median", "q75", "q90", "q95", "normalised_mean")


def compare(eval_dir: Path, out: Path) -> list[dict]:
    """Rows sorted by AUC@50, written as markdown; the PCK curves as ``<out stem>_pck.png``."""
    runs = sorted(p.parent for p in Path(eval_dir).glob("*/metrics.json"))
    if not runs:
        raise FileNotFoundError(f"no */metrics.json under {eval_dir}")
    rows = [{"model": run.name, **json.loads((run / "metrics.json").read_text())} for run in runs]
    rows.sort(key=lambda row: row["auc@50"])
    curves = {}
    for run in runs:
        predictions = run / "predictions.json"
        if predictions.is_file():
            curves[run.name] = collect_errors(load_pairs(predictions))[0]
    if curves:
        plot_pck_curve(curves, out.with_name(f"{out.stem}_pck.png"))
    write_markdown_table(rows, out, columns=COLUMNS, title="Held-out cross-scene pairs")
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m dense_descriptor_ros.evaluation.comparison EVAL_DIR OUT.md", file=sys.stderr)
        return 2
    rows = compare(Path(argv[0]), Path(argv[1]))
    print(markdown_table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
