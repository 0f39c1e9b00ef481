# Snakemake glue: Table 1 as a figure, and Table 1 with the GED summary as an HTML page.
from pathlib import Path

from diffseg.atomic import write_text
from diffseg.figures import save_figure
from diffseg.figures.charts import TABLE1_COLUMNS, read_table, table1_figure
from diffseg.figures.tables import markdown_notes, metric_tables_html
from diffseg.logs import redirect_to

with redirect_to(snakemake.log[0]):
    table = read_table(snakemake.input.table, TABLE1_COLUMNS)
    save_figure(table1_figure(table), snakemake.output.figure)
    ged_summary = read_table(snakemake.input.ged_summary, ["measure", "mean"])
    notes = markdown_notes(Path(snakemake.input.markdown).read_text(encoding="utf-8"))
    write_text(snakemake.output.tables, metric_tables_html(table, ged_summary, notes))
