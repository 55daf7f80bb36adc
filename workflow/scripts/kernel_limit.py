"""Rule `kernel_limit`: G∞ and K∞ of one data set at one γ → results/kernels/<dataset>_g<γ>.npz."""

from replication import jobs
from replication.files import write_npz
from replication.integrity import write_checksum
from replication.logs import logged

with logged(snakemake, "kernel_limit") as log:
    arrays = jobs.kernel_limit(snakemake.input.data, float(snakemake.wildcards.gamma), threads=snakemake.threads, log=log)
    write_npz(arrays, snakemake.output.npz)
    write_checksum(snakemake.output.npz)
