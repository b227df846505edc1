"""Convert D-FINE with litert-torch the naive way (see gpusafe.testing.naive_dfine).

    .venv/bin/python benchmarks/naive_dfine.py --preset s --size 640 --out out/naive_dfine_s_640.tflite
"""

import argparse
from pathlib import Path

from gpusafe.testing.naive_dfine import convert_naive

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="naive litert-torch conversion of transformers' D-FINE")
    parser.add_argument("--preset", default="s", choices=["tiny", "n", "s", "m", "l", "x"])
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--out", type=Path, default=Path("out/naive_dfine_s_640.tflite"))
    args = parser.parse_args()
    convert_naive(args.preset, args.size, args.out)
