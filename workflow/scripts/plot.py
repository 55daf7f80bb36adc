"""Rule `plot`: results/<experiment>.csv → figures/<experiment>.png and .pdf."""

from replication import jobs
from replication.files import save_figure

with jobs.logged(snakemake, "plot"):
    fig = jobs.plot(snakemake.wildcards.experiment, snakemake.input.csv)
    save_figure(fig, snakemake.output.png, snakemake.output.pdf)
