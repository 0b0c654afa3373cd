"""Builds the plugin with ASan + UBSan (K8A_SANITIZE=1) in a copy of the tree, then runs tests
on that build, so that the checkout's own build (pip install -e) stays as it is.

    python fuzz/sanitize.py                  the replay, stream, gap-fill and fuzz-regression tests
    python fuzz/sanitize.py tests [ARGS...]  any pytest arguments (here: the whole suite)

The copy is build/sanitize/k8saudit-ovh (kept between runs: only what changed is rebuilt),
with ../shared next to it when the checkout has one. pytest runs there with gcc's ASan
runtime preloaded (Python and the C test host are not built with it), leaks not reported
(CPython keeps memory by design) and the first ASan or UBSan report fatal.
"""
import filecmp
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "build" / "sanitize"
COPY = BASE / "k8saudit-ovh"
DEFAULT_TESTS = ["tests/test_replay_golden.py", "tests/test_replay_behaviour.py", "tests/test_streams.py",
                 "tests/test_gap_fill.py", "tests/test_fuzz_replay.py", "tests/test_fuzz_regressions.py"]


def native_build():
    spec = importlib.util.spec_from_file_location("_k8a_native_build", ROOT / "k8saudit_ovh" / "native_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_files():
    """The checkout's files: tracked and new ones, without what .gitignore leaves out."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
        return [Path(p.decode()) for p in out.split(b"\0") if p]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        skip = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache"}
        return [p.relative_to(ROOT) for p in ROOT.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(ROOT).parts) and p.suffix != ".so"]


def sync_copy():
    """Copies changed files only, with their times: the build reuses what did not change."""
    for rel in source_files():
        src, dst = ROOT / rel, COPY / rel
        if not src.is_file():
            continue  # deleted in the work tree, not yet in git
        if not dst.exists() or not filecmp.cmp(src, dst, shallow=False):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    shared = ROOT.parent / "shared"
    link = BASE / "shared"
    if shared.is_dir() and not link.exists():
        link.symlink_to(shared)


def build():
    # setup.py runs in this environment, not pip's isolated one: it needs the build requirements.
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *requires], check=True)
    env = dict(os.environ, K8A_SANITIZE="1")
    subprocess.run([sys.executable, "setup.py", "--quiet", "build_ext", "--inplace", "-j", "2"], cwd=COPY, env=env,
                   check=True)
    plugin = COPY / "k8saudit_ovh" / "libk8saudit-ovh.so"
    if not native_build().is_sanitized(plugin):
        sys.exit(f"sanitize: {plugin} was not built with ASan (stale objects?)")


def main(argv):
    sync_copy()
    build()
    env = native_build().sanitizer_env(dict(os.environ))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(COPY), env.get("PYTHONPATH")) if p)
    # --capture=sys: an ASan or UBSan report of the pytest process itself reaches the terminal.
    command = [sys.executable, "-m", "pytest", "-q", "--capture=sys", "-p", "no:cacheprovider",
               *(argv or DEFAULT_TESTS)]
    return subprocess.run(command, cwd=COPY, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
