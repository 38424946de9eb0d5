"""What CI and the real-data tests do when the data directory is missing or unset.

`.ci/run` must stop at once (exit 2, a message naming the variable) instead of
letting the loader fall back to TFDS downloads, and the `data_dir` fixture
must fail (not skip) a real-data test when `KERAS_HOPFIELD_DATA` names no
directory, but skip it when the variable is unset (a user's fresh machine).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
REAL_DATA_TEST = "tests/test_datasets.py::test_cifar10_real"


def _env(**overrides):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_HOPFIELD_DATA"}
    env.update(overrides)
    return env


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_ci_script_stops_when_the_data_directory_is_missing(tmp_path):
    missing = tmp_path / "no_such_datasets"
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "run")],
        cwd=tmp_path,
        env=_env(KERAS_HOPFIELD_DATA=str(missing)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"KERAS_HOPFIELD_DATA={missing} is not a directory" in result.stderr
    assert "=== tests" not in result.stdout  # nothing was installed or run


def _run_real_data_test(env):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", REAL_DATA_TEST],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_real_data_test_fails_when_the_data_directory_is_missing(tmp_path):
    result = _run_real_data_test(_env(KERAS_HOPFIELD_DATA=str(tmp_path / "missing")))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "is not a directory" in result.stdout
    assert "1 error" in result.stdout  # the fixture fails during setup


def test_real_data_test_skips_when_the_variable_is_unset():
    result = _run_real_data_test(_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout


def test_ci_runs_the_readme_test_command_verbatim_without_the_data_directory():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = [b.strip() for b in re.findall(r"```bash\n(.*?)```", readme, flags=re.S) if "pytest" in b]
    assert len(commands) == 1, commands  # exactly one test command
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    # first as a fresh machine (the variable unset), then the real-data tests with it
    fresh = ci.index(f"env -u KERAS_HOPFIELD_DATA bash -c '{commands[0]}'")
    assert fresh < ci.index("python -m pytest -n 2 -m real_data tests")
