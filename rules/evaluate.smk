# Zero-shot: the shared pre-trained checkpoint, scored directly on MS-CXR (no base cell).
rule evaluate_zeroshot:
    input:
        manifest=f"{PREPARED}/manifest.json",
        cache=CACHE,
        pretrained="results/pretrain/model~{model}/init~{init}/done.json",
    output:
        metrics="results/runs/model~{model}/init~{init}/setting~zeroshot/eval/metrics.json",
        predictions="results/runs/model~{model}/init~{init}/setting~zeroshot/eval/predictions.csv",
    log:
        "logs/evaluate_zeroshot/model~{model}/init~{init}.log",
    benchmark:
        "benchmarks/evaluate_zeroshot/model~{model}/init~{init}.tsv"
    wildcard_constraints:
        init="agpt|agpt_syn",
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        agpt=agpt_command(),
        checkpoint="results/pretrain/model~{model}/init~{init}/checkpoint",
        prepared=subpath(input.manifest, parent=True),
        split=lookup(dpath="evaluation/split", within=config),
        out=subpath(output.metrics, parent=True),
    shell:
        "{params.agpt} evaluate --checkpoint {params.checkpoint} --prepared {params.prepared}"
        " --cache {input.cache} --split {params.split} --out {params.out} > {log} 2>&1"


# Fine-tuned: the checkpoint selected on MS-CXR val, scored on MS-CXR test.
rule evaluate_finetuned:
    input:
        manifest=f"{PREPARED}/manifest.json",
        cache=CACHE,
        trained=f"results/runs/{FINETUNE_GRID.wildcard_pattern}/train/done.json",
    output:
        metrics=f"results/runs/{FINETUNE_GRID.wildcard_pattern}/eval/metrics.json",
        predictions=f"results/runs/{FINETUNE_GRID.wildcard_pattern}/eval/predictions.csv",
    log:
        f"logs/evaluate_finetuned/{FINETUNE_GRID.wildcard_pattern}.log",
    benchmark:
        f"benchmarks/evaluate_finetuned/{FINETUNE_GRID.wildcard_pattern}.tsv"
    wildcard_constraints:
        setting="finetune",
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        agpt=agpt_command(),
        checkpoint=f"results/runs/{FINETUNE_GRID.wildcard_pattern}/train/checkpoint",
        prepared=subpath(input.manifest, parent=True),
        split=lookup(dpath="evaluation/split", within=config),
        out=subpath(output.metrics, parent=True),
    shell:
        "{params.agpt} evaluate --checkpoint {params.checkpoint} --prepared {params.prepared}"
        " --cache {input.cache} --split {params.split} --out {params.out} > {log} 2>&1"


rule zeroshot:
    input:
        get_metrics(get_zeroshot_runs()),
