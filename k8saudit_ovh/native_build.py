"""Compiler flags and the simdjson sources of the native build, shared by setup.py and the
fuzz targets (fuzz/run.py). Stdlib only: both load this file by path.

K8A_SANITIZE=1 in setup.py's environment builds the plugin and its modules with ASan and
UBSan (see README, "Fuzzing and sanitizers")."""
import glob
import importlib.util
import os
import platform
import subprocess

# simdjson's on-demand API is compiled for the build target, not dispatched at run time:
# on x86-64 target SSE4.2 + PCLMUL (every x86-64 server since 2010) instead of the scalar
# fallback; both plugin libraries refuse to start on an older CPU (see c/cpu_check.h).
SIMD_FLAGS = ["-msse4.2", "-mpclmul"] if platform.machine() in ("x86_64", "AMD64") else []
CXX_STD = ["-std=c++17"]
# The C++ core under k8saudit_ovh/cpp, by stage of the data flow: JSON parsing, the sources
# (LDP frames and streams, file replay, ring), the plugin glue (batches, extraction).
# cpp/json_plugin/ is the json plugin's own.
CORE_SUBDIRS = ("json", "sources", "plugin")


def core_dirs(package_dir):
    return [os.path.join(package_dir, "cpp", d) for d in CORE_SUBDIRS]


def core_files(package_dir, pattern):
    """The core's sources (*.cpp) or headers (*.hpp), sorted."""
    return sorted(f for d in core_dirs(package_dir) for f in glob.glob(os.path.join(d, pattern)))
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]


def sanitize_requested() -> bool:
    return os.environ.get("K8A_SANITIZE", "") not in ("", "0")


def simdjson_dir():
    """simdjson.h / simdjson.cpp ship inside the pysimdjson distribution (a build requirement)."""
    spec = importlib.util.find_spec("simdjson")
    for d in (spec.submodule_search_locations or []) if spec else []:
        if os.path.exists(os.path.join(d, "simdjson.h")) and os.path.exists(os.path.join(d, "simdjson.cpp")):
            return d
    raise RuntimeError("simdjson.h/simdjson.cpp not found: install the build requirement pysimdjson==7.0.2")


def is_sanitized(library) -> bool:
    """Whether a built library (the plugin, a module) links the ASan runtime."""
    with open(library, "rb") as f:
        return b"libasan.so" in f.read()


def sanitizer_env(base: dict) -> dict:
    """The environment a process needs to load a K8A_SANITIZE build: gcc's ASan runtime
    preloaded (the host and Python are not built with it, and it must come first), leaks
    not reported (CPython keeps memory by design), the first report fatal."""
    cc = base.get("CC") or "cc"
    runtime = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True, text=True,
                             check=True).stdout.strip()
    preload = base.get("LD_PRELOAD", "")
    if "libasan" not in preload:
        preload = f"{runtime} {preload}".strip()
    return {**base, "LD_PRELOAD": preload,
            "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
