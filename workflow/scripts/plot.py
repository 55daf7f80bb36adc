"""Rule `plot`: results/<experiment>.csv → figures/<experiment>.png and .pdf."""

from wfio import logged, save_figure

with logged(snakemake, "plot"):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from implicit.plotting import plot_experiment

    fig = plot_experiment(snakemake.wildcards.experiment, pd.read_csv(snakemake.input.csv))
    save_figure(fig, snakemake.output.png, snakemake.output.pdf)
