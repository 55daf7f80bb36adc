"""implicit.files.atomic_output: a writer killed mid-write leaves no file under the final name."""

import os
import signal
import subprocess
import sys
import time

import pytest

from replication.files import atomic_output

WRITER = """
import sys, time
from replication.files import atomic_output
with atomic_output(sys.argv[1]) as tmp, open(tmp, "w") as fh:
    for i in range(10_000):
        fh.write(f"{i},row\\n"); fh.flush()
        if i == 10:
            print("writing", flush=True)
        time.sleep(0.001)
"""


def test_sigkill_mid_write_leaves_no_output(tmp_path):
    target = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    partial = list(tmp_path.glob(".out.csv.*.tmp"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0  # the half-written data went elsewhere


def test_exception_removes_temporary_and_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        open(tmp, "w").write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_success_replaces_with_usual_mode(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target, fsync=True) as tmp:
        open(tmp, "w").write("new")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text() == "new" and (target.stat().st_mode & 0o777) == 0o666 & ~umask
