#!/usr/bin/env bash
# A fake batch system for tests/test_cluster.py, the pattern of Snakemake's own test suite
# (tests/qsub there): Snakemake's cluster-generic executor calls
#
#   tests/fake_submit.sh [options ...] <jobscript>
#
# (--cluster-generic-submit-cmd "tests/fake_submit.sh --mem={resources.mem_mb} ...").
# Like sbatch, it returns at once and prints a job id; the job script runs in the background
# as a separate process (its own `python -m snakemake` for the one job, as on a cluster
# node). Spool directory $FAKE_SUBMIT_SPOOL (default .fake_cluster/): submissions.tsv (job id,
# options), <id>.sh (a copy of the job script; Snakemake deletes the original when the job
# ends) and <id>.out (its output).
set -euo pipefail
jobscript="${!#}"
spool="${FAKE_SUBMIT_SPOOL:-.fake_cluster}"
mkdir -p "$spool"
id="fake-$$-$RANDOM"
cp "$jobscript" "$spool/$id.sh"
printf '%s\t%s\n' "$id" "${*:1:$#-1}" >> "$spool/submissions.tsv"
nohup bash "$jobscript" > "$spool/$id.out" 2>&1 < /dev/null &
echo "$id"
