"""Prints the path of libdnnl.so.3 from the installed onednn-cpu-gomp wheel (the oneDNN
that Muon's products load at run time; CMake copies it next to libdescent.so), or exits
1 saying it is not installed."""
import importlib.metadata
import sys

SONAME = "libdnnl.so.3"
try:
    files = importlib.metadata.files("onednn-cpu-gomp") or []
except importlib.metadata.PackageNotFoundError:
    files = []
found = [f.locate() for f in files if f.name == SONAME]
if not found:
    sys.exit(f"{SONAME} not found: onednn-cpu-gomp is not installed for {sys.executable} "
             "(scripts/bootstrap.sh installs it)")
print(found[0].resolve())
