"""Dataset layouts, preprocess modes and the pair format: the data options, without TensorFlow.

The names of the data options are declared here (``DATASET_MODES``,
``DIRECTIONS``, ``PREPROCESS_MODES``, registries of ``tfpix2pix.names``), and the
config takes its choices from them; ``PairFormat`` is the one description of what
a decoded pair looks like (layout, direction, channels, bit depth, and the
``--preprocess`` sizes). The sizes are computed here in plain integers, so the
start-up check (image headers) and the tf.data pipeline (the same formula in int64
tensors, see ``preprocess.py``) agree on every pair's size.

``--preprocess`` follows the PyTorch reference (``data/base_dataset.py``); its modes
are the entries of ``PREPROCESS_MODES``, ``resize_and_crop`` the default. With
``scale_width`` the height is ``max(load_size * h // w, crop_size)``. Unlike the
reference, ``none`` does not resize to a multiple of 4: sizes that are not a
multiple of the generator's stride are padded by the train step.
"""

from dataclasses import asdict, dataclass

from ..names import Registry

PREPROCESS_MODES = Registry("preprocess", {
    "resize_and_crop": "resize to --load-size square, random crop --crop-size",
    "crop": "random crop --crop-size of the original size",
    "scale_width": "width to --load-size keeping the aspect ratio, no crop",
    "scale_width_and_crop": "scale_width, then a random crop --crop-size",
    "none": "the original size",
})
DATASET_MODES = Registry("dataset_mode", {
    "auto": "detected",
    "aligned": "[A | B] files",
    "unaligned_pairs": "A/ and B/ folders, partners matched by file name",
})
DIRECTIONS = Registry("direction", {
    "AtoB": "translates A, the left half or A/, into B",
    "BtoA": "the reverse, e.g. facades labels->photo",
})
BAD_FILE_POLICIES = Registry("on_bad_file", {
    "error": "stop with one line naming the file, before any model is built",
    "skip": "leave such files out, count them and list them in <run folder>/skipped_files.txt",
})
CHANNEL_COUNTS = (1, 2, 3, 4)
BIT_DEPTHS = (8, 16)
ALIGNED, TWO_FOLDERS = DATASET_MODES.subset("aligned", "unaligned_pairs")  # the layouts
DEFAULT_PREPROCESS = "resize_and_crop"
# Training sees crop x crop pairs: a fixed size.
FIXED_SIZE_MODES = PREPROCESS_MODES.subset("resize_and_crop", "crop", "scale_width_and_crop")
# The crop is taken after resizing to --load-size (square, or that width).
RESIZED_CROP_MODES = PREPROCESS_MODES.subset("resize_and_crop", "scale_width_and_crop")


@dataclass(frozen=True)
class PairFormat:
    """What a decoded pair is: which pixels, at which size, in which dtype.

    ``input_nc`` / ``output_nc`` are the channels of the network's input and target
    (after ``direction``). ``bit_depth`` 16 keeps every pair as uint16 (8-bit files
    times 257); 8 is uint8. ``layout`` is "aligned" ([A | B] files) or
    "unaligned_pairs" (an A file and a B file per pair).
    """

    preprocess: str = DEFAULT_PREPROCESS
    load_size: int = 286
    crop_size: int = 256
    direction: str = "AtoB"
    input_nc: int = 3
    output_nc: int = 3
    bit_depth: int = 8
    layout: str = ALIGNED

    def __post_init__(self):
        checks = (("preprocess", PREPROCESS_MODES), ("direction", DIRECTIONS),
                  ("input_nc", CHANNEL_COUNTS), ("output_nc", CHANNEL_COUNTS),
                  ("bit_depth", BIT_DEPTHS), ("layout", (ALIGNED, TWO_FOLDERS)))
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got "
                                 f"{getattr(self, name)!r}")
        if self.crops and self.crop_size < 1:
            raise ValueError(f"crop_size must be positive, got {self.crop_size!r}")

    @property
    def channels(self):
        """Channels of the stacked pair: input, then target."""
        return self.input_nc + self.output_nc

    @property
    def crops(self):
        return self.preprocess in FIXED_SIZE_MODES

    @property
    def scales_width(self):
        return self.preprocess.startswith("scale_width")

    @property
    def fixed_stored_size(self):
        """(h, w) every stored (cached) pair has, or None if it depends on the image."""
        return (self.load_size, self.load_size) if self.preprocess == "resize_and_crop" else None

    @property
    def is_default(self):
        """The format the pipeline had before these options: its caches stay valid."""
        return (self.preprocess, self.input_nc, self.output_nc, self.bit_depth, self.layout) == \
            (DEFAULT_PREPROCESS, 3, 3, 8, ALIGNED)

    def stored_size(self, height, width):
        """(h, w) of the pair as decoded and kept in the cache: resized, not yet cropped."""
        if self.preprocess == "resize_and_crop":
            return self.load_size, self.load_size
        if self.scales_width:
            return max(self.load_size * height // width, self.crop_size), self.load_size
        return height, width

    def train_size(self, height, width):
        """(h, w) of the pair as training sees it."""
        return (self.crop_size, self.crop_size) if self.crops else self.stored_size(height, width)

    def eval_size(self, height, width):
        """(h, w) of a fixed (grid, validation) pair: the training size without randomness."""
        if self.preprocess == "resize_and_crop":
            return self.crop_size, self.crop_size
        return self.train_size(height, width)

    def cache_identity(self):
        """JSON-able: everything the stored pixels depend on (keys the disk cache).

        The default format gives the same identity as before these options existed.
        """
        ident = {"load_size": int(self.load_size), "direction": self.direction}
        if self.is_default:
            return ident
        # crop and none store the original pixels; both scale_width modes store the same.
        resize = {"crop": "none", "scale_width_and_crop": "scale_width"}.get(self.preprocess,
                                                                            self.preprocess)
        ident.update(resize=resize, channels=[self.input_nc, self.output_nc],
                     bit_depth=self.bit_depth, layout=self.layout)
        if resize == "scale_width":
            ident["min_height"] = int(self.crop_size)
        return ident

    def replace(self, **changes):
        return PairFormat(**{**asdict(self), **changes})
