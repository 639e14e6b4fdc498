"""The orphan check the reliability tests rely on: it sees a process working in a folder, and not a dead one."""

from __future__ import annotations

import subprocess
import sys

from workbench.testing.processes import processes_in


def test_a_process_working_in_a_folder_is_found_until_it_dies(tmp_path):
    inner = tmp_path / "step"
    inner.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=inner)
    try:
        assert proc.pid in processes_in(tmp_path)  # a subfolder counts
        assert processes_in(tmp_path / "other") == []
    finally:
        proc.kill()
    proc.wait()
    assert proc.pid not in processes_in(tmp_path)


def test_a_zombie_is_not_counted(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"], cwd=tmp_path)
    while True:  # exited but not reaped: a zombie until wait()
        try:
            with open(f"/proc/{proc.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    break
        except OSError:
            break
    assert proc.pid not in processes_in(tmp_path)
    proc.wait()
