"""Draw what the tactile estimator sees on a synthetic press: gel image, difference, contact mask and
marker displacement field (docs/sensors.md shows the result).

    python -m sensors.tactile_figure docs/sensors_tactile.png
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .gel_synth import Indentation, indented_markers, marker_grid, render_gel
from .tactile_processing import TactileProcessor


def draw(path: str, width: int = 320, height: int = 240) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = marker_grid(width, height)
    press = Indentation(150, 110, 40, 40)
    proc = TactileProcessor()
    proc.set_reference(render_gel(width, height, grid, seed=1))
    shift = (2.0, 1.0)
    for k in (1, 2):
        frame = render_gel(width, height, indented_markers(grid, (shift[0] * k / 2, shift[1] * k / 2), press),
                           indentations=[press], seed=1 + k)
        result = proc.process(frame)
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.6))
    ax[0].imshow(frame)
    ax[0].set_title("gel image (pressed, dragged)")
    ax[1].imshow(result.difference_rgb8())
    ax[1].set_title("difference, markers removed")
    ax[2].imshow(result.contact_mask, cmap="gray")
    true_area = np.pi * press.radius**2 / (width * height)
    ax[2].set_title(f"contact {result.contact_area:.3f} (true {true_area:.3f}), load {result.normal_load:.3f}")
    d = result.displacement
    ax[3].imshow(frame, alpha=0.4)
    ax[3].quiver(result.markers_ref[:, 0], result.markers_ref[:, 1], d[:, 0], -d[:, 1], color="r",
                 angles="xy", scale_units="xy", scale=0.25)
    ax[3].set_title(f"markers moved (x4), shear ({result.shear[0]:.2f}, {result.shear[1]:.2f}) px")
    for a in ax:
        a.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", help="PNG to write")
    args = ap.parse_args(argv)
    draw(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
