# One AGPT pre-training run per model and synonym setting, shared by every cell that starts
# from it (zero-shot evaluation and all fine-tuning modes, fractions and seeds).
# A (re)run starts afresh: agpt refuses to overwrite an existing run directory.
rule pretrain:
    input:
        manifest=f"{PREPARED}/manifest.json",
        cache=CACHE,
        synonyms=get_synonyms_inputs,
    output:
        done="results/pretrain/model~{model}/init~{init}/done.json",
        train_log="results/pretrain/model~{model}/init~{init}/train_log.jsonl",
    log:
        "logs/pretrain/model~{model}/init~{init}.log",
    benchmark:
        "benchmarks/pretrain/model~{model}/init~{init}.tsv"
    wildcard_constraints:
        init="agpt|agpt_syn",
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        agpt=agpt_command(),
        run=subpath(output.done, parent=True),
        prepared=subpath(input.manifest, parent=True),
        preset=lookup(dpath="model/preset", within=config),
        synonyms=get_synonym_args,
        seed=lookup(dpath="pretrain/seed", within=config),
        epochs=lookup(dpath="pretrain/epochs", within=config),
        batch_size=lookup(dpath="pretrain/batch_size", within=config),
    shell:
        "rm -rf {params.run} && {params.agpt} pretrain --model {wildcards.model} --preset {params.preset}"
        " --prepared {params.prepared} --cache {input.cache} --out {params.run}"
        " {params.synonyms} --seed {params.seed} --epochs {params.epochs}"
        " --batch-size {params.batch_size} > {log} 2>&1"


rule pretraining:
    input:
        expand(rules.pretrain.output.done, model=GRID["models"], init=PRETRAINED_INITS),
