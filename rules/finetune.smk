# One fine-tuning run per grid cell: model x init x mode x train fraction x seed.
# A (re)run starts afresh: agpt refuses to overwrite an existing run directory.
rule finetune:
    input:
        manifest=f"{PREPARED}/manifest.json",
        cache=CACHE,
        pretrained=get_pretrained,
    output:
        done=f"results/runs/{FINETUNE_GRID.wildcard_pattern}/train/done.json",
        train_log=f"results/runs/{FINETUNE_GRID.wildcard_pattern}/train/train_log.jsonl",
    log:
        f"logs/finetune/{FINETUNE_GRID.wildcard_pattern}.log",
    benchmark:
        f"benchmarks/finetune/{FINETUNE_GRID.wildcard_pattern}.tsv"
    wildcard_constraints:
        setting="finetune",
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        agpt=agpt_command(),
        run=subpath(output.done, parent=True),
        prepared=subpath(input.manifest, parent=True),
        init=get_init_arg,
        preset=lookup(dpath="model/preset", within=config),
        epochs=lookup(dpath="finetune/epochs", within=config),
        batch_size=lookup(dpath="finetune/batch_size", within=config),
    shell:
        "rm -rf {params.run} && {params.agpt} finetune --model {wildcards.model} --preset {params.preset}"
        " --prepared {params.prepared} --cache {input.cache} --out {params.run}"
        " --init {params.init} --mode {wildcards.mode} --train-fraction {wildcards.fraction}"
        " --seed {wildcards.seed} --epochs {params.epochs} --batch-size {params.batch_size}"
        " > {log} 2>&1"


rule finetuning:
    input:
        expand(
            f"results/runs/{{cell}}/train/done.json",
            cell=FINETUNE_GRID.instance_patterns,
        ),
