# Snakemake glue: Fig. 2, the noise predictions and their difference for the shard's example images.
from diffseg.figures import save_figure
from diffseg.figures.panels import noise_difference_panel, read_noise_examples
from diffseg.logs import redirect_to
from diffseg.store import ImageStore

with redirect_to(snakemake.log[0]), ImageStore(snakemake.input.store) as store:
    examples, step, semantics = read_noise_examples(
        snakemake.input.diffs, snakemake.input.masks, store, snakemake.params.examples
    )
    save_figure(noise_difference_panel(examples, step, semantics), snakemake.output.figure)
