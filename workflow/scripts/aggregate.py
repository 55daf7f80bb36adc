"""Rule `aggregate`: concatenate the run CSVs of one experiment into results/<experiment>.csv."""

from wfio import logged, write_csv

with logged(snakemake, "aggregate") as log:
    import pandas as pd

    df = pd.concat([pd.read_csv(p, keep_default_na=True) for p in snakemake.input.runs], ignore_index=True)
    df = df.sort_values(["dataset", "m", "gamma", "seed", "step"], kind="stable", ignore_index=True)
    write_csv(df, snakemake.output.csv)
    log.info("%d runs, %d rows, %d failed runs", df["run_id"].nunique(), len(df), df.loc[df["status"] != "completed", "run_id"].nunique())
