"""kill -9 at random moments of each multi-step operation: the database always opens and holds exactly the old state
or exactly the new one, never a half plan, a half seed or some of the files of an import."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).with_name("kill_runner.py")
ROOT = RUNNER.parents[2]
KILLS = 50


@pytest.mark.parametrize("operation", ["template", "seed", "duplicate", "import", "restore"])
def test_kill_at_random_moments_leaves_old_or_new_state(operation, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(RUNNER), operation, str(KILLS), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["old_state"] != report["new_state"]  # the operation really changes something
    assert report["outcomes"]["other"] == 0, report["others"]
    assert report["outcomes"]["old"] + report["outcomes"]["new"] == KILLS
    assert report["outcomes"]["old"] > 0  # kills did land before the commit
