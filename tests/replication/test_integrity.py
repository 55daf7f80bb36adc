"""Intermediate files carry a SHA-256 sidecar; every consumer checks it and stops with one message
naming the file and the command that regenerates it (replication/integrity.py).  Job scripts
report such input problems, and running out of memory, in one line without a traceback
(replication/logs.py).  Table-driven: every kind of damage against every consumer."""

import json
import logging
import types

import numpy as np
import pandas as pd
import pytest

from replication import integrity, jobs
from replication.aggregate import aggregate
from replication.claims import claims_job
from replication.datasets import load_dataset, make_dataset, save_npz
from replication.errors import DamagedFileError, InputError
from replication.files import write_csv, write_npz
from replication.logs import logged
from replication.plotting import plot_file

LOG = logging.getLogger("test")


def flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


#: (case id, how the file is damaged, what the message says)
DAMAGES = [
    ("truncated", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "is damaged: it has"),
    ("emptied", lambda p: p.write_bytes(b""), "it has 0 bytes"),
    ("appended", lambda p: p.write_bytes(p.read_bytes() + b"\n1,2,3\n"), "(truncated or changed)"),
    ("byte-flipped", flip, "its SHA-256 differs from the one recorded in"),
    ("deleted", lambda p: p.unlink(), "is missing"),
    ("sidecar-deleted", lambda p: integrity.sidecar(p).unlink(), "cannot be checked: its checksum file"),
    ("sidecar-garbled", lambda p: integrity.sidecar(p).write_text("{"), "is unreadable"),
    ("sidecar-of-another-file", lambda p: integrity.sidecar(p).write_text(json.dumps(
        {"file": "other.csv", "sha256": "0" * 64, "bytes": 1})), "is not the record of"),
]


@pytest.fixture(scope="module")
def dataset():
    return make_dataset("sphere-linear", n_train=6, n_test=3, d=4, seed=0)


def data_file(tmp_path, ds):
    path = tmp_path / "results" / "data" / "tiny.npz"
    save_npz(path, ds)
    return path


def kernel_file(tmp_path, ds):
    path = tmp_path / "results" / "kernels" / "tiny_g0.1.npz"
    write_npz(jobs.kernel_limit(data_file(tmp_path, ds), 0.1, threads=1, log=LOG), path)
    integrity.write_checksum(path)
    return path


def run_file(tmp_path, ds):
    row = dict(experiment="width", dataset="tiny", run_id="tiny_m8_g0.1_s0", m=8, gamma=0.1, seed=0, lr="auto",
               steps=2, tol=1e-10, max_iter=500, record_every=1, method="fixed-point", trainable="A+W+u+v",
               track_gram=False, max_rho=1.0)
    path = tmp_path / "results" / "runs" / "width" / "tiny_m8_g0.1_s0.csv"
    write_csv(jobs.run_gd(row, ds)[0], path)
    integrity.write_checksum(path)
    return path


def aggregated_file(tmp_path, ds):
    run = run_file(tmp_path, ds)
    path = tmp_path / "results" / "width.csv"
    write_csv(aggregate("width", [run], {}, LOG), path)
    integrity.write_checksum(path)
    return path


KERNEL_JOB = dict(experiment="kernel", dataset="tiny", run_id="tiny_m8_g0.1_s0", m=8, gamma=0.1, seeds=[0],
                  run_ids=["tiny_m8_g0.1_s0"], tol=1e-10, max_iter=500, method="fixed-point", threads=1)

#: (consumer id, writes the file, reads it as its job does)
CONSUMERS = [
    ("load_dataset", data_file, load_dataset),
    ("kernel_errors", kernel_file, lambda p: jobs.kernel_errors(KERNEL_JOB, p.parents[1] / "data" / "tiny.npz", p,
                                                                 engine_hash="x", threads=1, log=LOG)),
    ("aggregate", run_file, lambda p: aggregate("width", [p], {}, LOG)),
    ("plot", aggregated_file, lambda p: plot_file("width", p)),
    ("claims", aggregated_file, lambda p: claims_job([p], {}, LOG)),
]


@pytest.mark.parametrize("write,read", [c[1:] for c in CONSUMERS], ids=[c[0] for c in CONSUMERS])
def test_intact_file_is_read(tmp_path, dataset, write, read):
    path = write(tmp_path, dataset)
    assert json.loads(integrity.sidecar(path).read_text())["sha256"] == integrity.sha256(path)
    read(path)


@pytest.mark.parametrize("damage,expected", [c[1:] for c in DAMAGES], ids=[c[0] for c in DAMAGES])
@pytest.mark.parametrize("write,read", [c[1:] for c in CONSUMERS], ids=[c[0] for c in CONSUMERS])
def test_damaged_file_stops_its_consumer_with_one_message(tmp_path, dataset, write, read, damage, expected):
    path = write(tmp_path, dataset)
    damage(path)
    with pytest.raises(DamagedFileError) as err:
        read(path)
    message = str(err.value)
    assert message.startswith(f"{path} ") and expected in message and "\n" not in message
    assert f"snakemake --cores all --forcerun {path}" in message and "or delete it" in message


def test_checksums_live_next_to_unchanged_files(tmp_path, dataset):
    """The CSV holds exactly what pandas writes: the checksum is only in the sidecar."""
    table = pd.DataFrame({"a": [1.0, float("nan")], "b": ["x", "y"]})
    path = tmp_path / "t.csv"
    write_csv(table, path)
    integrity.write_checksum(path)
    assert path.read_bytes() == table.to_csv(index=False).encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.csv.sha256.json"]
    assert json.loads((tmp_path / "t.csv.sha256.json").read_text()) == {
        "file": "t.csv", "sha256": integrity.sha256(path), "bytes": path.stat().st_size}
    assert integrity.verify(path) == path


def test_load_dataset_without_check_still_names_a_damaged_file(tmp_path, dataset):
    path = data_file(tmp_path, dataset)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DamagedFileError, match="is unreadable .*--forcerun"):
        load_dataset(path, check=False)


# -- job scripts: one line for an expected failure, a traceback for anything else ----------------
def raise_(exc):
    raise exc


#: (case id, what the job does, exit, strings of the one line, traceback expected)
FAILURES = [
    ("damaged-file", lambda: raise_(DamagedFileError("results/data/x.npz is damaged: ...; regenerate it")),
     ["train: results/data/x.npz is damaged", "regenerate it"]),
    ("user-file", lambda: raise_(InputError("mnist.npz:train: 3 duplicate row(s)")), ["train: mnist.npz:train: 3 duplicate"]),
    ("memory-error", lambda: raise_(MemoryError("Unable to allocate 8.00 GiB")),
     ["train: out of memory (Unable to allocate 8.00 GiB)", "--set-resources train:mem_mb="]),
    ("numpy-allocation", lambda: np.zeros((10**8, 10**8)), ["train: out of memory (Unable to allocate", "lower the width m"]),
]


@pytest.mark.parametrize("work,expected", [c[1:] for c in FAILURES], ids=[c[0] for c in FAILURES])
def test_expected_failure_is_one_line_without_traceback(tmp_path, capsys, work, expected):
    job = types.SimpleNamespace(log=[str(tmp_path / "job.log")])
    with pytest.raises(SystemExit) as exit_:
        with logged(job, "train"):
            work()
    assert exit_.value.code == 1
    log, err = (tmp_path / "job.log").read_text(), capsys.readouterr().err
    assert log == err and log.count("\n") == 1 and "Traceback" not in log
    assert all(text in log for text in expected), log


def test_unexpected_exception_keeps_its_traceback(tmp_path, capsys):
    job = types.SimpleNamespace(log=[str(tmp_path / "job.log")])
    with pytest.raises(KeyError):
        with logged(job, "train"):
            {}["bug"]
    log = (tmp_path / "job.log").read_text()
    assert "Traceback" in log and "KeyError: 'bug'" in log and capsys.readouterr().err == ""


def test_tables_have_enough_cases():
    assert len(DAMAGES) * len(CONSUMERS) >= 40 and len(FAILURES) >= 4
