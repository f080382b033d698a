"""Prints the oneDNN wheel that pyproject.toml's build requirements pin (the one place it
is written), for scripts/bootstrap.sh."""
import pathlib
import re

pyproject = (pathlib.Path(__file__).parent.parent / "pyproject.toml").read_text()
print(re.search(r'"(onednn-cpu-gomp==[^"]+)"', pyproject)[1])
