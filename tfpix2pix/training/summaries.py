"""What a user sees: TensorBoard scalars, the input | output | target grid, a PNG copy."""

import tensorflow as tf

from .. import pixels, run_folder
from ..files import write_atomic


def image_grid(real_a, fake_b, real_b):
    """One row per pair: input | output | target, as a uint8 HxWx3 array.

    Each argument is a batch (N, H, W, C) or a list of HxWxC images of their own sizes
    (``--preprocess none`` or ``scale_width``); rows narrower than the widest are
    padded with black on the right. A and B may have different channel counts; each is
    shown as RGB by ``pixels.to_channels`` (alpha composited on white, gray repeated).
    """
    rows = [tf.concat([pixels.to_channels(tf.cast(x, tf.float32), 3) for x in images], axis=1)
            for images in zip(real_a, fake_b, real_b)]
    width = max(row.shape[1] for row in rows)
    rows = [tf.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=-1.0)
            for row in rows]
    return pixels.to_pixels(tf.concat(rows, axis=0)).numpy()


class IntervalMeans:
    """Means of the step metrics since the last ``pop``, and training steps per second.

    Only the time spent in training steps counts towards the rate, not the time
    spent writing grids and checkpoints.
    """

    def __init__(self):
        self._reset()

    def _reset(self):
        self.sums, self.count, self.seconds = {}, 0, 0.0

    def add(self, metrics, seconds, steps=1):
        """Add the metrics of ``steps`` steps (their means) that took ``seconds``."""
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + v * steps
        self.count += steps
        self.seconds += seconds

    def pop(self):
        means = {k: v / self.count for k, v in self.sums.items()}
        means["steps_per_sec"] = self.count / self.seconds
        self._reset()
        return means


class Summaries:
    """TensorBoard events and PNG grids in ``run_dir``; with ``run_dir=None`` nothing is
    written (the workers of a multi-worker run other than the chief)."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.writer = (tf.summary.create_file_writer(run_dir) if run_dir
                       else tf.summary.create_noop_writer())

    def scalars(self, step, values):
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
        self.writer.flush()

    def hparams(self, values, trial_id):
        """Log the run's config to TensorBoard's HParams dashboard (with its scalars, e.g.
        ``val/L1``, as the metrics): ``values`` maps names to bool, int, float or str."""
        from tensorboard.plugins.hparams import api as hp
        with self.writer.as_default():
            hp.hparams(values, trial_id=trial_id)
        self.writer.flush()

    def grid(self, step, grid):
        """Write the grid to TensorBoard and to images/step_<step>.png; return the path."""
        if not self.run_dir:
            return None
        with self.writer.as_default(step=step):
            tf.summary.image("val/input_output_target", grid[None], max_outputs=1)
        self.writer.flush()
        path = run_folder.grid_path(self.run_dir, step)
        return write_atomic(path, tf.io.encode_png(grid).numpy())

    def close(self):
        self.writer.close()
