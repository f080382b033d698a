import sys
from pathlib import Path

# The parity suite's problem (digits MLP) and configurations are shared (problem.py
# only: importing the ctypes shim would load a second libdescent.so).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "parity"))
