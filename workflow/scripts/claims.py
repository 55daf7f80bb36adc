"""Rule `claims`: evaluate the claims of SPEC §5 on the aggregated CSVs → results/claims.csv + claims.md.

Each claim (implicit.analysis.CLAIMS) reads one experiment's CSV and compares one measured
number with a threshold from the config's ``claims`` block.  Claims whose experiment is not
enabled, or whose thresholds are not configured, are listed as "not evaluated"; failing
claims are listed with pass = False.  Neither makes the job fail.
"""

from pathlib import Path

from wfio import logged, write_csv, write_text

with logged(snakemake, "claims") as log:
    import pandas as pd

    from implicit import analysis

    tables = {Path(p).stem: pd.read_csv(p) for p in snakemake.input.csvs}
    claims = analysis.evaluate_claims(tables, dict(snakemake.params.thresholds))
    write_csv(claims, snakemake.output.csv)
    write_text(analysis.claims_markdown(claims), snakemake.output.md)
    for r in claims.itertuples(index=False):
        log.info("%s: %s measured=%s threshold=%s %s", r.id, r.status, r.measured, r.threshold, r.note)
