# Snakemake glue: the students' Dice on one root's images and how their uncertainty tracks their error.
import pandas as pd

from diffseg.evaluation.table import student_summary, student_summary_markdown
from diffseg.runtime.atomic import write_csv, write_text
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    settings = snakemake.params.metrics
    per_image = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    summary = student_summary(per_image, settings["bootstrap"], settings["seed"], snakemake.params.group)
    write_csv(summary, snakemake.output.table)
    markdown = student_summary_markdown(summary)
    write_text(snakemake.output.markdown, markdown)
    log.info("\n%s", markdown)
