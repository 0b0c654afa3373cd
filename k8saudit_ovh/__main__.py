"""`python -m k8saudit_ovh`: the k8saudit-ovh command (k8saudit_ovh/cli/main.py)."""
import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
