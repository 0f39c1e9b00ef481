# Snakemake glue: noise differences under two semantics for the images of one shard.
import torch

from diffseg.data.shards import store_shard
from diffseg.data.store import ImageStore
from diffseg.method.extraction import ExtractionSettings, extract_shard
from diffseg.method.model import load_model
from diffseg.runtime.device import pick_device
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    settings = snakemake.params.extraction
    device = pick_device()
    with ImageStore(snakemake.input.store) as store:
        # A reused checkpoint of another preset or size would run on these images without error.
        unet = load_model(snakemake.input.model, device, snakemake.params.preset, store.size)
        # Evaluation extracts the test split; annotation passes split "predict".
        split = snakemake.params.get("split", "test")
        positions = store_shard(store, int(snakemake.wildcards.shard), snakemake.params.shard_size, split)
        log.info("shard %s: %d images", snakemake.wildcards.shard, len(positions))
        extract_shard(
            store,
            positions,
            unet,
            snakemake.output.diffs,
            ExtractionSettings(
                steps=settings["steps"],
                draws=settings["draws"],
                semantic_a=snakemake.params.semantics["a"],
                semantic_b=snakemake.params.semantics["b"],
                reduce=snakemake.params.reduce,
                base_seed=settings["seed"],
            ),
            batch_size=settings["batch_size"],
            example_ids=[store.ids[p] for p in positions[: settings["examples"]]],
        )
