# agpt: the ablation grid of "Anatomical grounding pre-training for medical phrase grounding"
# (Zhang, Chandra, Nicolson, ISBI 2025). Every job calls the `agpt` CLI; see docs/workflow.md.
#
#   snakemake --cores 2 all                           # default: phantom data, `small` preset
#   snakemake --cores 8 --configfile config/real.yaml all   # real data, the paper's sizes
#   snakemake --profile profiles/slurm --configfile config/real.yaml all
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "reports/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/synonyms.smk"
include: "rules/pretrain.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/baselines.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
