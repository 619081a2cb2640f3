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
    modules = {a: importlib.import_module(f"gen_{a}") for a in wanted}
    # An area that reads another's output names it in AFTER; it runs after it when both are wanted.
    order = []
    while len(order) < len(wanted):
        ready = [a for a in wanted if a not in order
                 and all(d in order or d not in wanted for d in getattr(modules[a], "AFTER", ()))]
        if not ready:
            sys.exit(f"AFTER forms a cycle among {sorted(set(wanted) - set(order))}")
        order.append(ready[0])
    for area in order:
        print(f"== {area}")
        modules[area].generate(ROOT)


if __name__ == "__main__":
    main(sys.argv)
