"""The metric tables as one HTML page: the report shows HTML inline, while CSVs are only downloads."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from diffseg.evaluation.table import SHOWN
from diffseg.reports.figures.charts import METRIC_NAMES

STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
p.note { max-width: 60em; color: #444; }
"""


def metric_tables_html(
    table1: pd.DataFrame, ged_summary: pd.DataFrame, notes: str = "",
    sections: Sequence[tuple[str, pd.DataFrame, str]] = (),
) -> str:
    """Table 1 (mean [95 % CI] per metric, ΔDice and p against DiffSeg + CRF), `sections` (heading,
    table of display cells, notes: e.g. Dice by lesion size, `diffseg.evaluation.breakdown`) and the GED summary."""
    shown = pd.DataFrame({"Method": table1["method"], "n": table1["n"]})
    for metric in SHOWN:
        shown[METRIC_NAMES[metric]] = [
            f"{mean:.3f} [{low:.3f}, {high:.3f}]"
            for mean, low, high in table1[[f"{metric}_{part}" for part in ("mean", "ci_low", "ci_high")]]
            .itertuples(index=False)
        ]
    if "dice_minus_crf" in table1:
        shown["ΔDice vs DiffSeg + CRF"] = table1["dice_minus_crf"].map(lambda d: "–" if pd.isna(d) else f"{d:+.3f}")
        for column, name in (("p_dice_vs_crf", "p (Wilcoxon)"), ("p_holm_dice_vs_crf", "p (Holm)")):
            if column in table1:
                shown[name] = table1[column].map(lambda p: "–" if pd.isna(p) else f"{p:.2g}")
    uncertainty = ged_summary.rename(columns={"measure": "Measure"})
    extra = "".join(f"<h2>{html.escape(heading)}</h2>{cells.to_html(index=False, escape=True)}{_paragraphs(text)}"
                    for heading, cells, text in sections)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Metric tables</title><style>{STYLE}</style>"
        "</head><body><h2>Table 1: segmentation at original resolution</h2>"
        f"{shown.to_html(index=False, escape=True)}{_paragraphs(notes)}{extra}"
        "<h2>Uncertainty: GED of the per-step masks</h2>"
        f"{uncertainty.to_html(index=False, float_format=lambda v: f'{v:.3f}')}</body></html>"
    )


def _paragraphs(notes: str) -> str:
    return "".join(f'<p class="note">{html.escape(line)}</p>' for line in notes.split("\n\n") if line.strip())


def markdown_notes(markdown: str) -> str:
    """The prose of a Markdown table file (every line outside the table), paragraphs kept."""
    prose = [line for line in markdown.splitlines() if not line.lstrip().startswith("|")]
    return "\n".join(prose).strip()
