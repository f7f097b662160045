"""Plain training scripts, one per framework, doing what its Trainyard service does without
Trainyard: `<framework env>/bin/python bench/direct/<framework>_direct.py SPEC.json OUT_DIR`.

Each prints `BENCH {"epoch": n, "time": unix}` when an epoch ends and `BENCH {"metrics": …,
"time": unix}` once it is done, and keeps its best and last weights in OUT_DIR as a script of
one's own would.
"""
