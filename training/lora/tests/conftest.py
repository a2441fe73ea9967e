import sys
from pathlib import Path

# SageMaker runs train.py from the source folder, so its imports resolve from there; the tests do the same.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
