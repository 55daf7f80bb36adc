"""Rule `claims` (placeholder): one row per experiment, every claim honestly "not yet evaluated".

The evaluation of each claim against thresholds from the config (SPEC §5, "Claims table")
will replace this; the columns stay the same.
"""

from pathlib import Path

from wfio import logged, write_csv, write_text

#: SPEC §5: the question each experiment answers.
QUESTIONS = {
    "width": "a wider net trains faster and stays lazy",
    "gamma": "the equilibrium stays well-posed for small gamma and breaks down past some gamma",
}
COLUMNS = ["claim", "experiment", "measured", "threshold", "pass", "status", "note"]

with logged(snakemake, "claims"):
    import pandas as pd

    rows = []
    for path in snakemake.input.csvs:
        exp = Path(path).stem
        df = pd.read_csv(path, usecols=["run_id", "status"]).drop_duplicates("run_id")
        rows.append({
            "claim": QUESTIONS.get(exp, exp), "experiment": exp, "measured": float("nan"),
            "threshold": float("nan"), "pass": "", "status": "not yet evaluated",
            "note": f"{len(df)} runs in results/{exp}.csv, {int((df['status'] != 'completed').sum())} stopped early",
        })
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(table, snakemake.output.csv)
    lines = ["# Claims", "", "No claim has been evaluated yet: the claims stage is a placeholder.", "",
             "| experiment | claim | status | note |", "|---|---|---|---|"]
    lines += [f"| {r.experiment} | {r.claim} | {r.status} | {r.note} |" for r in table.itertuples()]
    write_text("\n".join(lines) + "\n", snakemake.output.md)
