"""The sample grid of a recorded result: the model's outputs for the first test images.

    python experiments/results/facades_3000/grid.py EVALUATION_DIR OUT.png [--count 6]

EVALUATION_DIR is the --out folder of `python -m tfpix2pix.evaluate ... --samples N`, whose
samples/outputs/*.png it tiles, in the order of samples/index.html, three to a row. Only the
outputs are shown: the inputs and targets are facades images, which this repository does not
redistribute (evaluate's samples/index.html shows all three beside each other). The grid is
quantised to 256 colours (Pillow's median cut, no dithering) to stay small.
"""

import argparse
import os
import re

import numpy as np
from PIL import Image


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("evaluation")
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--columns", type=int, default=3)
    args = parser.parse_args()
    folder = os.path.join(args.evaluation, "samples", "outputs")
    names = sorted(os.listdir(folder), key=lambda n: [int(t) if t.isdigit() else t
                                                      for t in re.split(r"(\d+)", n)])
    tiles = [np.asarray(Image.open(os.path.join(folder, n)).convert("RGB"))
             for n in names[:args.count]]
    if not tiles:
        parser.error(f"{folder}: no outputs; run evaluate with --samples")
    h, w, _ = tiles[0].shape
    rows = -(-len(tiles) // args.columns)
    grid = np.full((rows * h + (rows - 1) * 4, args.columns * w + (args.columns - 1) * 4, 3),
                   255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, args.columns)
        grid[r * (h + 4):r * (h + 4) + h, c * (w + 4):c * (w + 4) + w] = tile
    image = Image.fromarray(grid).quantize(256, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.NONE)
    image.save(args.out, optimize=True)
    print(f"{args.out}: {', '.join(names[:args.count])} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
