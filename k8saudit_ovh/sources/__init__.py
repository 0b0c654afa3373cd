"""sources: see the repository layout in README.md."""
