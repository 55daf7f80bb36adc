rule plot:
    """results/<experiment>.csv → figures/<experiment>.png/.pdf; reads nothing else."""
    message:
        job_message(
            "plot {wildcards.experiment}: {input.csv} → {output.png}, {output.pdf}"
        )
    input:
        csv="results/{experiment}.csv",
    output:
        # the caption template includes workflow/report/captions/{experiment}.rst when the report
        # is written: editing a caption changes the report, not the figure
        png=report(
            "figures/{experiment}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"experiment": "{experiment}"},
        ),
        pdf="figures/{experiment}.pdf",
    params:
        code=PLOT_HASH,
    log:
        "logs/plot/{experiment}.log",
    threads: 1
    resources:
        mem_mb=1000,
    wildcard_constraints:
        experiment=alternatives(EXPERIMENTS),
    conda:
        ENV
    script:
        "../scripts/plot.py"
