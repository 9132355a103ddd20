"""How long a worker's change of a job's status takes to show in open pages, in headless Chromium.

    .venv/bin/python bench/liveness.py [--rounds 20]

Runs tests/test_liveness.py (a real live server and browser; the test moves a job as a worker's claim
does) with LIVENESS_ROUNDS rounds, and prints its line of figures.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    run = subprocess.run([sys.executable, "-m", "portal.testrun", "-q", "-s", "-p", "no:cacheprovider",
                          "tests/test_liveness.py"], cwd=ROOT, env={**os.environ, "LIVENESS_ROUNDS": str(rounds)},
                         capture_output=True, text=True)
    figures = [line for line in run.stdout.splitlines() if "showed after" in line]
    if run.returncode or not figures:
        sys.exit(run.stdout[-3000:] + run.stderr[-2000:])
    print(figures[0])


if __name__ == "__main__":
    main()
