"""seed_sections.txt: the section headings of the seed report (MagFace Baseline Results), one
per line as they appear there (`#`, `##`, `###` lines outside code blocks, in order), so that a test can compare
report.md's sections with the seed's without the seed itself (it is not in the repository).

The seed is read from $MAGFLEET_SEED_REPORT, default /work/shared/seed/magface-baseline-results.md;
without it this area writes nothing and says so (the committed file stays as it is).

    python3 Tests/Fixtures/generate.py seed_sections
"""
import os
import pathlib


def generate(root):
    seed = pathlib.Path(os.environ.get("MAGFLEET_SEED_REPORT", "/work/shared/seed/magface-baseline-results.md"))
    if not seed.exists():
        print(f"  {seed} not found: seed_sections.txt left as it is")
        return
    headings, fenced = [], False
    for line in seed.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced  # a `# comment` inside a code block is no heading
        elif line.startswith("#") and not fenced:
            headings.append(line.rstrip())
    out = root / "Tests" / "EvaluationTests" / "Fixtures" / "seed_sections.txt"
    out.write_text("\n".join(headings) + "\n")
    print(f"  wrote {out.name}: {len(headings)} headings of {seed}")
