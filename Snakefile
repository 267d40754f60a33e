# UHECR primary classification from single-station WCD signals.
# Thin entry point: configuration and rules live in rules/, logic in src/uhecr.


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/search.smk"
include: "rules/evaluation.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
