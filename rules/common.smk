import itertools
import shlex
import sys

import pandas as pd
import yaml
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import Paramspace, validate

validate(config, schema="../schemas/config.schema.yaml")

GRID = config["grid"]
# The zero-shot setting evaluates a pre-trained model; the base initialisation is never
# pre-trained here, so (init=base, setting=zeroshot) is not a cell of the grid.
PRETRAINED_INITS = [init for init in GRID["inits"] if init != "base"]
ZEROSHOT_INITS = PRETRAINED_INITS if "zeroshot" in GRID["settings"] else []
FINETUNE_COLUMNS = ["model", "init", "setting", "mode", "fraction", "seed"]
FINETUNE_GRID = Paramspace(
    pd.DataFrame(
        itertools.product(
            GRID["models"],
            GRID["inits"] if "finetune" in GRID["settings"] else [],
            ["finetune"],
            GRID["modes"],
            GRID["fractions"],
            GRID["seeds"],
        ),
        columns=FINETUNE_COLUMNS,
    )
)

PREPARED = "results/data/prepared"
CACHE = "results/data/cache"
PHANTOM = "results/data/phantom"


wildcard_constraints:
    model="|".join(GRID["models"]),
    init="|".join(GRID["inits"]),
    mode="|".join(GRID["modes"]),
    fraction=r"[0-9.]+",
    seed=r"\d+",
    baseline="|".join(GRID["baselines"]) or "none",


def agpt_command():
    """The agpt CLI, run by the interpreter that runs Snakemake (or the rule's conda env)."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python -m agpt"
    return f"{shlex.quote(sys.executable)} -m agpt"


# Every job: never wait on a model hub, headless plots, and the agpt next to this Snakefile.
# (shell.prefix is formatted by Snakemake, hence the doubled braces.)
shell.prefix(
    "set -euo pipefail; export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg; "
    f"export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)


def require_real_path(key):
    """A path from data.real, with a clear error when the real-data config leaves it empty."""
    value = config["data"]["real"][key]
    if not value:
        raise ValueError(
            f"config: data.real.{key} is empty but data.source is 'real'; "
            "set it in your --configfile (see config/real.yaml)"
        )
    return value


def get_data_sources():
    """Arguments of `agpt data prepare` (name -> value) for the configured data source."""
    data = config["data"]
    fmt = data["image_format"]
    if data["source"] == "phantom":
        args = {
            "mimic-root": (
                f"{PHANTOM}/mimic-cxr-jpg" if fmt == "jpg" else f"{PHANTOM}/mimic-cxr"
            ),
            "imagenome-root": f"{PHANTOM}/chest-imagenome",
            "mscxr": f"{PHANTOM}/ms-cxr/MS_CXR_Local_Alignment_v1.1.0.csv",
            "split-source": "mscxr",
        }
    else:
        args = {
            "mimic-root": require_real_path("mimic_root"),
            "imagenome-root": require_real_path("imagenome_root"),
            "mscxr": require_real_path("mscxr"),
            "split-source": data["real"]["split_source"],
        }
        if args["split-source"] == "medrpg" and data["real"]["medrpg_split"]:
            args["medrpg-split"] = data["real"]["medrpg_split"]
    args["image-format"] = fmt
    args["leakage-guard"] = data["leakage_guard"]
    return args


def get_prepare_args():
    return " ".join(
        f"--{k} {shlex.quote(str(v))}" for k, v in get_data_sources().items()
    )


def get_image_root():
    """The image root that `agpt data cache` reads (the MIMIC-CXR(-JPG) root)."""
    return shlex.quote(get_data_sources()["mimic-root"])


def get_data_inputs(wildcards):
    """The phantom is a rule output; real data is external (not tracked, so it may be absent)."""
    if config["data"]["source"] == "phantom":
        return f"{PHANTOM}/phantom.json"
    return []


def get_synonyms_table():
    """The synonym table AGPT with synonyms uses: a file path, or 'bundled'."""
    source = config["synonyms"]["source"]
    if source == "openai":
        return "results/synonyms/generated.json"
    if source == "file":
        if not config["synonyms"]["file"]:
            raise ValueError(
                "config: synonyms.source is 'file' but synonyms.file is empty"
            )
        return config["synonyms"]["file"]
    return "bundled"


def get_synonyms_generated(wildcards):
    table = get_synonyms_table()
    return [] if table == "bundled" else table


def get_synonyms_table_arg():
    table = get_synonyms_table()
    return "" if table == "bundled" else f"--table {shlex.quote(table)}"


def get_synonyms_inputs(wildcards):
    """The pre-training with synonyms waits for the synonym table to be shown and checked."""
    return "results/synonyms/table.txt" if wildcards.init == "agpt_syn" else []


def get_synonym_args(wildcards):
    """`agpt pretrain` synonym flags: none for AGPT, the configured table for AGPT+synonyms."""
    if wildcards.init != "agpt_syn":
        return "--synonyms none --synonym-strategy none"
    syn = config["synonyms"]
    return (
        f"--synonyms {shlex.quote(get_synonyms_table())} "
        f"--synonym-strategy {syn['strategy']} --synonym-k {syn['k']}"
    )


def get_pretrained(wildcards):
    """The shared pre-trained run a cell starts from (none for the base initialisation)."""
    if wildcards.init == "base":
        return []
    return f"results/pretrain/model~{wildcards.model}/init~{wildcards.init}/done.json"


def get_init_arg(wildcards):
    """`agpt finetune --init`: the pre-trained checkpoint directory, or none."""
    if wildcards.init == "base":
        return "none"
    return f"results/pretrain/model~{wildcards.model}/init~{wildcards.init}/checkpoint"


def get_zeroshot_runs():
    return expand(
        "results/runs/model~{model}/init~{init}/setting~zeroshot/eval",
        model=GRID["models"],
        init=ZEROSHOT_INITS,
    )


def get_finetune_runs():
    return expand("results/runs/{cell}/eval", cell=FINETUNE_GRID.instance_patterns)


def get_baseline_runs():
    return expand(
        "results/runs/baseline~{baseline}/eval",
        baseline=GRID["baselines"],
    )


def get_all_runs():
    """Every evaluated run directory (each holds metrics.json and predictions.csv)."""
    return get_zeroshot_runs() + get_finetune_runs() + get_baseline_runs()


def get_metrics(runs):
    return [f"{run}/metrics.json" for run in runs]


def get_train_logs():
    """Training curves for the report: every pre-training and fine-tuning run."""
    pretrain = expand(
        "results/pretrain/model~{model}/init~{init}/train_log.jsonl",
        model=GRID["models"],
        init=PRETRAINED_INITS,
    )
    finetune = expand(
        "results/runs/{cell}/train/train_log.jsonl",
        cell=FINETUNE_GRID.instance_patterns,
    )
    return pretrain + finetune


def get_final_output():
    return ["results/tables/ablation.csv", "reports/ablation.html"]


def get_gold():
    """The MS-CXR split every run is scored on (gold boxes for the tables and the report)."""
    return f"{PREPARED}/mscxr_{config['evaluation']['split']}.csv"
