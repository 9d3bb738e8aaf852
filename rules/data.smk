rule phantom:
    output:
        marker=f"{PHANTOM}/phantom.json",
    log:
        "logs/phantom/phantom.log",
    conda:
        "../envs/data.yaml"
    threads: 2
    params:
        agpt=agpt_command(),
        out=subpath(output.marker, parent=True),
        seed=lookup(dpath="data/phantom/seed", within=config),
        n_pretrain=lookup(dpath="data/phantom/n_pretrain", within=config),
        n_mscxr=lookup(dpath="data/phantom/n_mscxr_images", within=config),
    shell:
        "{params.agpt} phantom --out {params.out} --seed {params.seed}"
        " --n-pretrain {params.n_pretrain} --n-mscxr-images {params.n_mscxr}"
        " --workers {threads} --overwrite"
        " > {log} 2>&1"


rule prepare:
    input:
        get_data_inputs,
    output:
        manifest=f"{PREPARED}/manifest.json",
        gold=expand(f"{PREPARED}/mscxr_{{split}}.csv", split=["train", "val", "test"]),
        anatomy=expand(f"{PREPARED}/anatomy_{{split}}.csv", split=["train", "val"]),
        images=f"{PREPARED}/images.csv",
    log:
        "logs/prepare/prepare.log",
    conda:
        "../envs/data.yaml"
    params:
        agpt=agpt_command(),
        sources=get_prepare_args(),
        out=subpath(output.manifest, parent=True),
    shell:
        "{params.agpt} data prepare {params.sources} --out {params.out} > {log} 2>&1"


rule cache:
    input:
        manifest=f"{PREPARED}/manifest.json",
    output:
        cache=directory(CACHE),
    log:
        "logs/cache/cache.log",
    benchmark:
        "benchmarks/cache/cache.tsv"
    conda:
        "../envs/data.yaml"
    threads: 2
    params:
        agpt=agpt_command(),
        prepared=subpath(input.manifest, parent=True),
        image_root=get_image_root(),
        size=lookup(dpath="data/image_size", within=config),
        pixel_mode=lookup(dpath="data/pixel_mode", within=config),
    shell:
        "{params.agpt} data cache --prepared {params.prepared} --image-root {params.image_root}"
        " --size {params.size} --pixel-mode {params.pixel_mode} --workers {threads}"
        " --out {output.cache} > {log} 2>&1"


rule data:
    input:
        rules.prepare.output,
        rules.cache.output,
