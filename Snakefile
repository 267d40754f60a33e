# UHECR primary classification from single-station WCD signals.
# Thin entry point: configuration and rules live in rules/, logic in src/uhecr.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# Used only with --sdm apptainer (see README): per-rule conda envs run inside it, or set
# `container` to an image built from containers/uhecr.def.
container: config["container"]


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/search.smk"
include: "rules/evaluation.smk"
include: "rules/composition.smk"
include: "rules/apply.smk"
include: "rules/archive.smk"


# The report opens on the workflow description and the results table (rule report_landing).
report: report_description()


# Tiny bookkeeping jobs: run on the submitting host, never as cluster jobs.
localrules:
    all,
    init_tracking,
    create_study,
    collect_search,
    compare_models,
    tables,
    leakage_table,
    validation_table,
    composition_table,
    applied_fractions_table,
    apply,
    provenance,
    findings,
    report_landing,
    paper,
    zenodo,


rule all:
    default_target: True
    input:
        all_outputs(),


# Target: the trained models applied to the files of config apply.datasets (docs/apply.md).
rule apply:
    input:
        require_apply_datasets,
        lambda wc: table_sources("md")["applied_fractions"],


# Notifications (off unless apprise URLs are set: docs/operations.md) and where things are.
onstart:
    notify_run("start")


onsuccess:
    notify_run("success", log)
    print(where_to_look(), flush=True)


onerror:
    notify_run("error", log)
