"""The CCL ablation of the paper: quantile q and variance scaling, one table and one plot.

``python -m dense_descriptor_ros.evaluation.ablation EVAL_DIR OUT.md`` reads
``EVAL_DIR/q<quantile>_<scaled|unscaled>/metrics.json`` as ``ddr evaluate`` writes them for the
runs of ``scripts/ccl_ablation.sh``, and plots AUC@50 against q, one line per scaling.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from dense_descriptor_ros.evaluation.report import plot_ablation, write_markdown_table

RUN_NAME = re.compile(r"q(?P<quantile>[0-9.]+)_(?P<scaling>scaled|unscaled)$")


def ablation(eval_dir: Path, out: Path) -> list[dict]:
    """Rows (quantile, scaling, PCK@10, AUC@50) written as markdown; ``<out stem>.png`` the plot."""
    rows = []
    for metrics in sorted(Path(eval_dir).glob("*/metrics.json")):
        match = RUN_NAME.match(metrics.parent.name)
        if match:
            values = json.loads(metrics.read_text())
            rows.append({"quantile": float(match["quantile"]), "variance scaling": match["scaling"] == "scaled",
                         "pck@10": values["pck@10"], "auc@50": values["auc@50"]})
    if not rows:
        raise FileNotFoundError(f"no q<quantile>_<scaled|unscaled>/metrics.json under {eval_dir}")
    rows.sort(key=lambda row: (not row["variance scaling"], row["quantile"]))
    lines: dict[str, dict[float, float]] = {}
    for row in rows:
        label = "variance scaling" if row["variance scaling"] else "no variance scaling"
        lines.setdefault(label, {})[row["quantile"]] = row["auc@50"]
    plot_ablation(lines, out.with_suffix(".png"), "quantile q of keypoints kept", "AUC@50")
    write_markdown_table(rows, out, columns=("quantile", "variance scaling", "pck@10", "auc@50"),
                         title="CCL ablation")
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m dense_descriptor_ros.evaluation.ablation EVAL_DIR OUT.md", file=sys.stderr)
        return 2
    ablation(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
