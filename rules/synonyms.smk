rule synonyms_generate:
    output:
        table="results/synonyms/generated.json",
    log:
        "logs/synonyms_generate/synonyms_generate.log",
    conda:
        "../envs/data.yaml"
    params:
        agpt=agpt_command(),
        model=lookup(dpath="synonyms/openai_model", within=config),
        n=lookup(dpath="synonyms/n", within=config),
    shell:
        "{params.agpt} synonyms generate --out {output.table} --model {params.model}"
        " --n {params.n} --cache-dir results/synonyms/llm_cache > {log} 2>&1"


# Shows (and thereby validates) the table that AGPT with synonyms will sample from.
rule synonyms:
    input:
        get_synonyms_generated,
    output:
        shown="results/synonyms/table.txt",
    log:
        "logs/synonyms/synonyms.log",
    conda:
        "../envs/data.yaml"
    params:
        agpt=agpt_command(),
        table=get_synonyms_table_arg(),
    shell:
        "{params.agpt} synonyms show {params.table} > {output.shown} 2> {log}"
