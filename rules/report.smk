localrules:
    effective_config,


# The effective configuration (config.yaml + --configfile + schema defaults), for the report.
rule effective_config:
    output:
        config="results/config.yaml",
    log:
        "logs/effective_config/effective_config.log",
    params:
        config=config,
    run:
        with open(output.config, "w") as out:
            yaml.safe_dump(params.config, out, sort_keys=False)


rule tables:
    input:
        gold=get_gold(),
        metrics=get_metrics(get_all_runs()),
    output:
        table="results/tables/ablation.csv",
        markdown="results/tables/ablation.md",
        latex="results/tables/ablation.tex",
        per_category="results/tables/per_category.csv",
        runs="results/tables/runs.csv",
        comparisons="results/tables/comparisons.csv",
    log:
        "logs/tables/tables.log",
    benchmark:
        "benchmarks/tables/tables.tsv"
    conda:
        "../envs/report.yaml"
    params:
        agpt=agpt_command(),
        runs=get_all_runs(),
        out=subpath(output.table, parent=True),
        bootstrap=lookup(dpath="report/bootstrap", within=config),
        seed=lookup(dpath="report/seed", within=config),
    shell:
        "{params.agpt} report tables --gold {input.gold} --runs {params.runs}"
        " --out {params.out} --bootstrap {params.bootstrap} --seed {params.seed} > {log} 2>&1"


rule report_html:
    input:
        table="results/tables/ablation.csv",
        gold=get_gold(),
        cache=CACHE,
        config="results/config.yaml",
        manifest=f"{PREPARED}/manifest.json",
        metrics=get_metrics(get_all_runs()),
        train_logs=get_train_logs(),
    output:
        html="reports/ablation.html",
    log:
        "logs/report_html/report_html.log",
    benchmark:
        "benchmarks/report_html/report_html.tsv"
    conda:
        "../envs/report.yaml"
    params:
        agpt=agpt_command(),
        tables=subpath(input.table, parent=True),
        runs=get_all_runs(),
    shell:
        "{params.agpt} report html --tables {params.tables} --runs {params.runs}"
        " --gold {input.gold} --cache {input.cache} --train-logs {input.train_logs}"
        " --benchmarks benchmarks --config {input.config} --manifest {input.manifest}"
        " --out {output.html} > {log} 2>&1"
