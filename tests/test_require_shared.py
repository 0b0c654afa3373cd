"""The K8A_REQUIRE_SHARED switch (.ci/run sets it): a test that reads ../shared and finds it
missing skips for a user without it, and fails in CI, where ../shared must be there."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REQUIRE_SHARED

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("switch, outcome, code", [(None, "1 skipped", 0), ("1", "1 failed", 1)])
def test_a_missing_shared_path_skips_or_fails_by_the_switch(switch, outcome, code, tmp_path):
    (tmp_path / "test_reads_shared.py").write_text(
        "from conftest import require_shared\n"
        f"def test_reads(): require_shared(__import__('pathlib').Path({str(tmp_path / 'shared' / 'corpus')!r}))\n")
    env = {k: v for k, v in os.environ.items() if k != REQUIRE_SHARED}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
    if switch is not None:
        env[REQUIRE_SHARED] = switch
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider",
                             str(tmp_path / "test_reads_shared.py")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stdout + result.stderr
    assert outcome in result.stdout
    assert f"{tmp_path / 'shared' / 'corpus'} is not available" in result.stdout
    assert (f"{REQUIRE_SHARED}=1" in result.stdout) == (switch == "1")


def test_a_present_shared_path_is_returned_whatever_the_switch(tmp_path, monkeypatch):
    from conftest import require_shared
    monkeypatch.setenv(REQUIRE_SHARED, "1")
    assert require_shared(tmp_path) == tmp_path
