"""The workflow's rules as Snakemake parses them, for tests that check the rules themselves."""

from __future__ import annotations

from functools import cache

from snakemake.api import SnakemakeApi
from snakemake.settings.enums import Quietness
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

from conftest import REPO


@cache
def workflow_rules() -> dict:
    """Every rule of the Snakefile under the default configuration, by name (Snakemake's `Rule`s)."""
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(snakefile=REPO / "Snakefile", workdir=REPO, config_settings=ConfigSettings(),
                                    resource_settings=ResourceSettings(cores=1))
        # The parsed Workflow: the API has no public accessor, `snakemake --lint` reads the same one.
        return {rule.name: rule for rule in workflow_api._workflow.rules}
