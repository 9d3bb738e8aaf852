# Non-learned baselines (centre box, per-category prior box, anatomy lookup) as extra rows.
rule baseline:
    input:
        manifest=f"{PREPARED}/manifest.json",
    output:
        metrics="results/runs/baseline~{baseline}/eval/metrics.json",
        predictions="results/runs/baseline~{baseline}/eval/predictions.csv",
    log:
        "logs/baseline/baseline~{baseline}.log",
    benchmark:
        "benchmarks/baseline/baseline~{baseline}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        agpt=agpt_command(),
        prepared=subpath(input.manifest, parent=True),
        split=lookup(dpath="evaluation/split", within=config),
        out=subpath(output.metrics, parent=True),
    shell:
        "{params.agpt} baseline {wildcards.baseline} --prepared {params.prepared}"
        " --split {params.split} --out {params.out} > {log} 2>&1"


rule baselines:
    input:
        get_metrics(get_baseline_runs()),
