"""Where the installed Falco plugin library is: next to this package's modules."""
from pathlib import Path

PLUGIN_LIBRARY = "libk8saudit-ovh.so"
# The self-contained artifact's interpreter, next to the library in Falco's plugins directory,
# which every artifact shares: a name of its own (see k8saudit_ovh/artifact.py).
BUNDLE_DIR = "k8saudit-ovh"
JSON_PLUGIN_LIBRARY = "libk8saudit-ovh-json.so"  # the json plugin (no Python)


class PluginNotBuiltError(FileNotFoundError):
    pass


def plugin_path(library: str = PLUGIN_LIBRARY) -> Path:
    """Absolute path of libk8saudit-ovh.so (or of the other library named), or
    PluginNotBuiltError saying how to build it."""
    path = Path(__file__).resolve().parent / library
    if not path.is_file():
        raise PluginNotBuiltError(
            f"{path} does not exist: the plugin is not built. Install the package with pip, "
            "or run `python setup.py build_ext --inplace` in a source checkout.")
    return path


def demo_events_path() -> Path:
    """The bundled sample MKS audit events (JSON Lines) that `k8saudit-ovh demo` replays."""
    return Path(__file__).resolve().parent / "demo" / "mks-audit.jsonl"
