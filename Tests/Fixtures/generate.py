#!/usr/bin/env python3
"""Regenerates magfleet's golden test fixtures with the real peers.

Each area has a module gen_<area>.py beside this file with a `generate(root)` function that
writes into Tests/<Target>Tests/Fixtures/. The peers (PyTorch, OpenCV, scikit-learn, h5py)
are needed only here, never in CI: the fixtures they produce are committed and kept small.

    python3 -m venv /opt/fxvenv && /opt/fxvenv/bin/pip install -r Tests/Fixtures/requirements.txt
    /opt/fxvenv/bin/python Tests/Fixtures/generate.py            # every area
    /opt/fxvenv/bin/python Tests/Fixtures/generate.py images     # one area

Every generator is deterministic (fixed seeds), so re-running it reproduces the same files.
"""
import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def areas():
    return sorted(p.stem[len("gen_"):] for p in HERE.glob("gen_*.py"))


def main(argv):
    wanted = argv[1:] or areas()
    unknown = [a for a in wanted if a not in areas()]
    if unknown:
        sys.exit(f"unknown area(s) {unknown}; known: {areas()}")
    sys.path.insert(0, str(HERE))
    for area in wanted:
        print(f"== {area}")
        importlib.import_module(f"gen_{area}").generate(ROOT)


if __name__ == "__main__":
    main(sys.argv)
