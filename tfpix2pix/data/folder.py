"""Finding and checking a dataset: a folder of aligned images, or its TFRecord form.

The layout is the PyTorch reference's "aligned" one: ``<root>/train/`` (and
optionally ``val/`` and ``test/``) holding JPEG or PNG images, each a pair
drawn side by side as ``[A | B]``, so every image is twice as wide as it is
high. A folder written by ``python -m tfpix2pix.data to-tfrecord`` (it holds
``index.json``) is read as the same pairs, in the same order. Paths may be
URLs (``gs://...``): they are read through tf.io.gfile. Problems are reported
as one-line UserErrors naming the file or flag.
"""

from ..errors import UserError
from . import fs
from .source import Pairs, as_pairs

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
BUILTIN_PREFIX = "builtin:"


def resolve_root(path):
    """Return the dataset folder for ``--data``, generating a built-in set if asked."""
    if not path:
        raise UserError("--data is empty; pass a dataset folder (with train/ inside) or "
                        "builtin:shapes")
    if path.startswith(BUILTIN_PREFIX):
        from . import synthetic
        name = path[len(BUILTIN_PREFIX):]
        if name != synthetic.BUILTIN_NAME:
            raise UserError(f"--data {path}: unknown built-in dataset; the built-in one is "
                            f"{BUILTIN_PREFIX}{synthetic.BUILTIN_NAME}")
        return synthetic.ensure_builtin_dataset()
    if not fs.exists(path):
        raise UserError(f"--data {path}: folder not found; pass the folder that holds train/")
    if not fs.isdir(path):
        raise UserError(f"--data {path}: not a folder; pass the folder that holds train/")
    return path


def list_images(root, split):
    """Sorted image paths in ``root/split`` ([] if the folder is absent)."""
    folder = fs.join(root, split)
    if not fs.isdir(folder):
        return []
    names = sorted(n for n in fs.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    return [fs.join(folder, n) for n in names]


def train_images(root, data_flag):
    paths = list_images(root, "train")
    if not paths:
        where = fs.join(root, "train")
        if not fs.isdir(where):
            raise UserError(f"--data {data_flag}: no train/ folder in it; put the training pairs "
                            f"in {where}/ as [A | B] .jpg or .png images")
        raise UserError(f"--data {data_flag}: no .jpg or .png images in {where}/; put the "
                        "training pairs there as [A | B] side-by-side images")
    return paths


def find_pairs(data_flag, num_shown):
    """(training pairs, pairs shown in the grid) for ``--data``, as ``Pairs``.

    The grid shows the first fixed val/ pairs, or training pairs if there is no val/.
    Works on a folder of images and on a to-tfrecord folder alike.
    """
    from . import tfrecord
    root = resolve_root(data_flag)
    if tfrecord.is_tfrecord_root(root):
        index = tfrecord.read_index(root)
        train = tfrecord.open_split(root, "train", index)
        if train is None:
            raise UserError(f"--data {data_flag}: its {tfrecord.INDEX} has no train split; "
                            "convert a folder that holds train/ with python -m tfpix2pix.data "
                            "to-tfrecord")
        return train, (tfrecord.open_split(root, "val", index) or train)[:num_shown]
    train = train_images(root, data_flag)
    return Pairs.of_files(train), Pairs.of_files(list_images(root, "val") or train)[:num_shown]


def _probe(data, decode):
    """(height, width, channels) of an encoded image, decoding it fully or reading its header."""
    import tensorflow as tf
    if decode:
        return tf.shape(tf.io.decode_image(data, expand_animations=False))

    def png_header():
        # PNG signature, then the IHDR chunk: width, height, bit depth, colour type.
        head = tf.io.decode_raw(tf.strings.substr(data, 12, 14), tf.uint8)
        head = tf.cast(head, tf.int32)
        ok = tf.reduce_all(tf.equal(head[:4], tf.constant([73, 72, 68, 82])))  # "IHDR"
        color = head[13]
        channels = tf.gather(tf.constant([1, 0, 3, 3, 2, 0, 4]), tf.minimum(color, 6))
        ok = tf.logical_and(ok, tf.logical_and(color <= 6, channels > 0))
        with tf.control_dependencies([tf.debugging.Assert(ok, ["bad PNG header"])]):
            width = head[4] * 2**24 + head[5] * 2**16 + head[6] * 2**8 + head[7]
            height = head[8] * 2**24 + head[9] * 2**16 + head[10] * 2**8 + head[11]
            return tf.stack([height, width, channels])

    is_png = tf.equal(tf.strings.substr(data, 0, 8), b"\x89PNG\r\n\x1a\n")
    return tf.cond(
        tf.io.is_jpeg(data), lambda: tf.image.extract_jpeg_shape(data),
        lambda: tf.cond(is_png, png_header,
                        lambda: tf.shape(tf.io.decode_image(data, expand_animations=False))))


def check_images(*pair_sets, decode=True):
    """Check every pair once; raise UserError naming the first bad one.

    Each image must be a readable image exactly twice as wide as high, with 1, 3 or 4
    channels. ``pair_sets`` are ``Pairs`` or lists of paths; a pair in several is checked
    once. ``decode=False`` reads only JPEG and PNG headers: the pipeline's first decode
    (the cache fill, or ``eval_pairs``) names a file whose body turns out to be broken.
    TFRecord shards are also checked for corrupt records and for the counts and names
    their ``index.json`` lists.
    """
    import tensorflow as tf

    seen_keys = set()
    for pairs in map(as_pairs, pair_sets):
        fresh = []
        for k in range(len(pairs)):
            key = pairs.key(k)
            if key not in seen_keys:
                seen_keys.add(key)
                fresh.append(k)
        pairs = pairs.subset(fresh)
        if not len(pairs):
            continue
        pairs.verify()
        ds = pairs.encoded().map(lambda k, data: (k, _probe(data, decode)),
                                 num_parallel_calls=tf.data.AUTOTUNE)
        shapes = {int(k): shape for k, shape in ds.ignore_errors().as_numpy_iterator()}
        fix = pairs.source.fix
        for k in range(len(pairs)):
            where = pairs.where(k)
            if k not in shapes:
                raise UserError(f"{where}: not a readable JPEG or PNG image; {fix}")
            height, width, channels = (int(v) for v in shapes[k])
            if width != 2 * height:
                raise UserError(f"{where}: image is {width}x{height}, but an aligned pair "
                                f"[A | B] must be twice as wide as high; "
                                f"{'fix or remove this file' if pairs.kind == 'files' else fix}")
            if channels not in (1, 3, 4):
                raise UserError(f"{where}: has {channels} channels; use grayscale, RGB or RGBA "
                                "images")
