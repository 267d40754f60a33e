# UHECR primary classification from single-station WCD signals.
# Thin entry point: configuration and rules live in rules/, logic in src/uhecr.


configfile: "config/config.yaml"


# Used only with --sdm apptainer (see README): per-rule conda envs run inside it, or set
# `container` to an image built from containers/uhecr.def.
container: config["container"]


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/search.smk"
include: "rules/evaluation.smk"
include: "rules/archive.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
