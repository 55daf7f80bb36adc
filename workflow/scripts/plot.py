"""Rule `plot`: results/<experiment>.csv → figures/<experiment>.png and .pdf."""

import matplotlib

from replication.files import save_figure
from replication.logs import logged

matplotlib.use("Agg")

with logged(snakemake, "plot"):
    from replication.plotting import plot_file

    fig = plot_file(snakemake.wildcards.experiment, snakemake.input.csv)
    save_figure(fig, snakemake.output.png, snakemake.output.pdf)
