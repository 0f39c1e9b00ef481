"""Post-training settings chosen on the development split (benchmark.candidates, docs/benchmark.md).

Each candidate is a named override of the settings applied after training (the step set and draws,
the difference, the threshold, the CRF). Every candidate segments the development images with the
main run's DDPM; the one whose DiffSeg + DenseCRF has the best mean Dice there is chosen (a tie goes
to the first listed), and only its settings segment the test images, so no test image takes part in
the choice. A candidate may not change what is trained: it would need its own DDPM or U-Net, and the
development images would then choose between models as well as settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from diffseg.evaluation.table import REFERENCE, best_step, markdown_table, summarise
from diffseg.runtime.atomic import write_text

# The settings a candidate may override: none of them is read before extraction.
CANDIDATE_SETTINGS = ("extraction.steps", "extraction.draws", "difference", "threshold", "crf")
VOTE = "diffseg_mean"
COLUMNS = ["candidate", "dev_n", "crf_mean", "crf_ci_low", "crf_ci_high", "vote_mean", "vote_ci_low",
           "vote_ci_high", "best_step", "best_step_mean", "chosen"]


def refused_overrides(override: Mapping, prefix: str = "") -> list[str]:
    """The dotted settings of `override` that a candidate may not change (CANDIDATE_SETTINGS)."""
    refused = []
    for key, value in override.items():
        dotted = prefix + str(key)
        if any(dotted == allowed or dotted.startswith(allowed + ".") for allowed in CANDIDATE_SETTINGS):
            continue
        if isinstance(value, Mapping) and any(allowed.startswith(dotted + ".") for allowed in CANDIDATE_SETTINGS):
            refused += refused_overrides(value, dotted + ".")
        else:
            refused.append(dotted)
    return refused


def _method_summary(dev_scores: pd.DataFrame, method: str, n_resamples: int, seed: int) -> dict[str, float]:
    dice = dev_scores.loc[dev_scores["method"] == method, "dice"].to_numpy(dtype=float)
    return {"n": len(dice), **summarise(dice, n_resamples, seed)}


def candidate_row(name: str, dev_scores: pd.DataFrame, n_resamples: int, seed: int) -> dict:
    """One candidate's development Dice: DiffSeg + DenseCRF and the mean-mask vote (mean, 95 % CI), and
    its best single step with that step's mean Dice."""
    crf = _method_summary(dev_scores, REFERENCE, n_resamples, seed)
    vote = _method_summary(dev_scores, VOTE, n_resamples, seed)
    step = best_step(dev_scores)
    step_dice = dev_scores.loc[dev_scores["method"] == step, "dice"].mean() if step else np.nan
    return {"candidate": name, "dev_n": crf["n"], "crf_mean": crf["mean"], "crf_ci_low": crf["ci_low"],
            "crf_ci_high": crf["ci_high"], "vote_mean": vote["mean"], "vote_ci_low": vote["ci_low"],
            "vote_ci_high": vote["ci_high"], "best_step": int(step[5:]) if step else None,
            "best_step_mean": step_dice}


def chosen_candidate(table: pd.DataFrame) -> str:
    """The candidate with the best development mean Dice of DiffSeg + DenseCRF; the first listed wins a
    tie, and a candidate without any development score is never chosen."""
    best = None
    for row in table.itertuples():
        if not np.isnan(row.crf_mean) and (best is None or row.crf_mean > best.crf_mean):
            best = row
    if best is None:
        raise ValueError("no candidate has a DiffSeg + DenseCRF score on the development split")
    return best.candidate


def selection_table(dev_scores: Mapping[str, pd.DataFrame], n_resamples: int, seed: int) -> pd.DataFrame:
    """One row per candidate (in the order given) with its development scores (`candidate_row`) and
    whether it is the one chosen (`chosen_candidate`)."""
    table = pd.DataFrame([candidate_row(name, scores, n_resamples, seed) for name, scores in dev_scores.items()],
                         columns=COLUMNS[:-1])
    table["chosen"] = table["candidate"] == chosen_candidate(table)
    return table


def _dice_cell(mean: float, low: float, high: float) -> str:
    return "–" if np.isnan(mean) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def override_text(override: Mapping) -> str:
    """An override in one line of YAML; the configuration's own settings when it is empty."""
    return yaml.safe_dump(dict(override), default_flow_style=True, width=10**6).strip() if override else "(the configuration's)"


def selection_markdown(table: pd.DataFrame, overrides: Mapping[str, Mapping]) -> str:
    """The candidates as a Markdown table, the chosen one in bold, with a note on how it was chosen."""
    rows = []
    for row in table.itertuples():
        name = f"**{row.candidate}** (chosen)" if row.chosen else row.candidate
        step = "–" if pd.isna(row.best_step) else f"t = {int(row.best_step)} ({row.best_step_mean:.3f})"
        rows.append([name, f"`{override_text(overrides.get(row.candidate, {}))}`", str(row.dev_n),
                     _dice_cell(row.crf_mean, row.crf_ci_low, row.crf_ci_high),
                     _dice_cell(row.vote_mean, row.vote_ci_low, row.vote_ci_high), step])
    header = ["Candidate", "Overrides", "Development images", "DiffSeg + DenseCRF Dice [95 % CI]",
              "Mean-mask vote Dice [95 % CI]", "Best single step (Dice)"]
    note = ("Every candidate segments the development images with the main run's DDPM; the one with the best "
            "mean Dice of DiffSeg + DenseCRF there is chosen (a tie goes to the first listed), and only it "
            "segments the test images.")
    return "\n".join([*markdown_table(header, rows), "", note]) + "\n"


def write_choice(path: str | Path, table: pd.DataFrame, overrides: Mapping[str, Mapping]) -> None:
    """chosen.yaml: the chosen candidate, its override and the development masks it was chosen on."""
    row = table.loc[table["chosen"]].iloc[0]
    choice = {"candidate": str(row["candidate"]), "override": dict(overrides.get(row["candidate"], {})),
              "dev_masks": int(row["dev_n"]), "dev_dice_crf": float(row["crf_mean"])}
    write_text(path, yaml.safe_dump(choice, sort_keys=False))


def read_choice(path: str | Path) -> dict:
    """The contents of chosen.yaml (`write_choice`)."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
