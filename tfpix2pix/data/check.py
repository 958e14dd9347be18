"""The start-up check of a dataset: every file readable, with the size and channels asked for.

It reads what the pipeline will need to be true, from JPEG and PNG headers
(or full decodes), once, before any training: the layout's geometry (an
[A | B] file splits into two halves; an A file is as large as its B file),
the channels ``--input-nc`` / ``--output-nc`` can be made from, crops that
fit, and, for a batch of more than one, one training size for every pair. The
first bad pair is reported as a one-line UserError naming its file and the fix,
so that a long run does not fail an hour in. The answer (``ImageInfo``) also
says whether any file is a 16-bit PNG, which sets the dtype the pairs are kept in.

``find_problems`` makes the same checks, file by file, but collects every problem
instead of stopping at the first (``python -m tfpix2pix.data validate`` and the
check of a downloaded dataset), and also returns what each readable file is.
``leave_out_bad`` is the check of ``--on-bad-file skip``: it decodes every file and
returns the pair sets without their bad pairs, and what was left out.
"""

from dataclasses import dataclass, field

from ..errors import UserError
from .layouts import ALIGNED, DEFAULT_PREPROCESS, FIXED_SIZE_MODES, PairFormat
from .source import as_pairs

FLAGS = ("--input-nc", "--output-nc")


@dataclass(frozen=True)
class ImageInfo:
    """What ``check_images`` learnt: ``bit_depth`` 16 if any file is a 16-bit PNG, else 8;
    ``train_sizes``: the sorted distinct (height, width) of the first pair set in training."""

    bit_depth: int
    train_sizes: tuple


@dataclass
class Findings:
    """What ``find_problems`` learnt: ``problems``, one line each, in the pairs' order;
    ``files``, (height, width, channels, bit depth, is JPEG) of every readable file."""

    problems: list = field(default_factory=list)
    files: list = field(default_factory=list)
    info: ImageInfo = None
    bad: dict = field(default_factory=dict)  # pair key -> its problem (per-pair problems only)


def _png_header(data):
    """(height, width, channels, bit depth) from a PNG's IHDR chunk (asserts it is one)."""
    import tensorflow as tf
    # PNG signature, then the IHDR chunk: width, height, bit depth, colour type.
    head = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 12, 14), tf.uint8), tf.int32)
    ok = tf.reduce_all(tf.equal(head[:4], tf.constant([73, 72, 68, 82])))  # "IHDR"
    color = head[13]
    channels = tf.gather(tf.constant([1, 0, 3, 3, 2, 0, 4]), tf.minimum(color, 6))
    ok = tf.logical_and(ok, tf.logical_and(color <= 6, channels > 0))
    with tf.control_dependencies([tf.debugging.Assert(ok, ["bad PNG header"])]):
        width = head[4] * 2**24 + head[5] * 2**16 + head[6] * 2**8 + head[7]
        height = head[8] * 2**24 + head[9] * 2**16 + head[10] * 2**8 + head[11]
        return tf.stack([height, width, channels, tf.maximum(head[12], 8)])


def _probe(data, decode):
    """(height, width, channels, bit depth, is JPEG) of an encoded image.

    ``decode`` decodes it fully (the shape is the decoded one); otherwise only JPEG and
    PNG headers are read. Bit depth is 16 only for a 16-bit PNG.
    """
    import tensorflow as tf
    is_jpeg = tf.io.is_jpeg(data)
    is_png = tf.equal(tf.strings.substr(data, 0, 8), b"\x89PNG\r\n\x1a\n")
    eight = tf.constant([8])

    def decoded():
        return tf.concat([tf.shape(tf.io.decode_image(data, expand_animations=False)), eight], 0)

    if decode:
        depth = tf.cond(is_png, lambda: _png_header(data)[3:], lambda: eight)
        info = tf.concat([tf.shape(tf.io.decode_image(data, expand_animations=False)), depth], 0)
    else:
        info = tf.cond(
            is_jpeg, lambda: tf.concat([tf.image.extract_jpeg_shape(data), eight], 0),
            lambda: tf.cond(is_png, lambda: _png_header(data), decoded))
    return tf.concat([info, tf.cast(is_jpeg, tf.int32)[None]], 0)


def _file_infos(pairs, decode, progress=None):
    """{(position, part): (h, w, c, depth, is_jpeg)} of the readable files of ``pairs``.

    ``progress(done)`` is called with the number of files read so far (in order).
    """
    import tensorflow as tf
    parts = pairs.parts

    def files_of(k, files):
        return tf.data.Dataset.from_tensor_slices((tf.fill([parts], k), tf.range(parts), files))

    ds = pairs.encoded().flat_map(files_of).map(
        lambda k, part, data: (k, part, _probe(data, decode)), num_parallel_calls=tf.data.AUTOTUNE)
    infos = {}
    for k, p, info in ds.ignore_errors().as_numpy_iterator():
        infos[int(k), int(p)] = tuple(int(v) for v in info)
        if progress:
            progress(int(k) * parts + int(p) + 1)
    if progress:
        progress(len(pairs) * parts)
    if parts > 1:  # a pair one of whose files cannot be read is dropped whole: probe each
        for k in sorted(set(range(len(pairs))) - {k for k, _ in infos}):
            for part in range(parts):
                single = pairs.subset([k]).encoded().map(_part_prober(part, decode))
                try:
                    infos[k, part] = tuple(int(v) for v in single.get_single_element())
                except tf.errors.OpError:
                    pass
    return infos


def _part_prober(part, decode):
    return lambda k, files: _probe(files[part], decode)


def _channels(c):
    return f"{c} channel{'s' * (c != 1)}"


def _channels_problem(where, c, n, flag, jpeg):
    """The message if a file with ``c`` channels cannot give ``n``, else None."""
    if n in (1, 3):
        if c in (1, 3, 4):
            return None
        if c == 2:
            return (f"{where}: has 2 channels (gray+alpha); {flag} {n} takes images with 1 "
                    f"(gray), 3 (RGB) or 4 (RGBA) channels, so convert it or use {flag} 2")
        return f"{where}: has {_channels(c)}; use grayscale, RGB or RGBA images"
    if c == n and not jpeg:
        return None
    kind = "gray+alpha" if n == 2 else "RGBA"
    what = "is a JPEG (1 or 3 channels)" if jpeg else f"has {_channels(c)}"
    return (f"{where}: {what}, but {flag} {n} needs PNG images with exactly {n} channels "
            f"({kind}); convert the data or use {flag} {1 if n == 2 else 3}")


def _aligned(pairs, k, infos, fmt):
    """(half size, [(channels, is JPEG, where)] for A and B) of an [A | B] file."""
    height, width, c, _, jpeg = infos[k, 0]
    where = pairs.where(k)
    fix = "fix or remove this file" if pairs.kind == "files" else pairs.source.fix
    if fmt.preprocess == DEFAULT_PREPROCESS and width != 2 * height:
        raise UserError(f"{where}: image is {width}x{height}, but an aligned pair [A | B] "
                        f"must be twice as wide as high; {fix} (or, for non-square pairs, "
                        "train with --preprocess scale_width or none)")
    if width % 2:
        raise UserError(f"{where}: image is {width}x{height}, an odd width, but an aligned "
                        f"pair [A | B] is two halves side by side; {fix}")
    return (height, width // 2), [(c, jpeg, where)] * 2


def _two_files(pairs, k, infos, fmt):
    """(size, [(channels, is JPEG, where)] for the input and the target) of an A and a B file."""
    (ha, wa, ca, _, ja), (hb, wb, cb, _, jb) = infos[k, 0], infos[k, 1]
    if (ha, wa) != (hb, wb):
        raise UserError(f"{pairs.where(k, 0)} is {wa}x{ha}, but its partner {pairs.where(k, 1)} "
                        f"is {wb}x{hb}; a pair's A and B must have the same size, so resize one "
                        "of them")
    sides = [(ca, ja, pairs.where(k, 0)), (cb, jb, pairs.where(k, 1))]
    return (ha, wa), sides[::-1] if fmt.direction == "BtoA" else sides


def _pair_size(pairs, k, infos, fmt):
    """(h, w) of pair ``k``'s A and B at their original size; UserError for a bad pair."""
    for part in range(pairs.parts):
        if (k, part) not in infos:
            raise UserError(f"{pairs.where(k, part)}: not a readable JPEG or PNG image; "
                            f"{pairs.source.fix}")
    size, sides = (_aligned if pairs.layout == ALIGNED else _two_files)(pairs, k, infos, fmt)
    for (c, jpeg, where), n, flag in zip(sides, (fmt.input_nc, fmt.output_nc), FLAGS):
        problem = _channels_problem(where, c, n, flag, jpeg)
        if problem:
            raise UserError(problem)
    if fmt.crops and fmt.preprocess != DEFAULT_PREPROCESS:  # the config checks load >= crop
        stored_h, stored_w = fmt.stored_size(*size)
        if min(stored_h, stored_w) < fmt.crop_size:
            what = "its halves are" if pairs.layout == ALIGNED else "it is"
            after = f" after --preprocess {fmt.preprocess}" if fmt.scales_width else ""
            raise UserError(f"{pairs.where(k, 0)}: {what} {stored_w}x{stored_h}{after}, smaller "
                            f"than --crop-size {fmt.crop_size}; use larger images, a smaller "
                            "--crop-size, or --preprocess resize_and_crop")
    return size


def _needs(name, value, preprocess):
    if value is None:
        raise ValueError(f"check_images needs {name} for preprocess={preprocess!r}")
    return value


def check_images(*pair_sets, decode=True, preprocess=DEFAULT_PREPROCESS, load_size=None,
                 crop_size=None, input_nc=3, output_nc=3, direction="AtoB", batch_size=1):
    """Check every pair once; raise UserError naming the first bad one; return ``ImageInfo``.

    ``pair_sets`` are ``Pairs`` or lists of paths; a pair in several is checked once. The
    first set is the training set: with ``batch_size`` (the global batch) above 1, all of
    its pairs must have one training size. Each file must be a readable image; an aligned
    one splits into two halves (under resize_and_crop, it must be twice as wide as high);
    the two files of a two-folder pair have one size; the channels can be converted to
    ``input_nc`` and ``output_nc``; crops fit (``crop_size``; ``load_size`` for the
    scale_width modes). ``decode=False`` reads only JPEG and PNG headers: the pipeline's
    first decode (the cache fill, or ``eval_pairs``) names a file whose body turns out to
    be broken. TFRecord shards are also checked for corrupt records and for the counts
    and names their ``index.json`` lists.
    """
    return _inspect(pair_sets, None, None, decode=decode, preprocess=preprocess,
                    load_size=load_size, crop_size=crop_size, input_nc=input_nc,
                    output_nc=output_nc, direction=direction, batch_size=batch_size)


def find_problems(*pair_sets, progress=None, **reading):
    """``check_images``' checks (same arguments), collecting every problem: ``Findings``.

    A pair with a problem is reported once, with the message ``check_images`` would raise
    for it, and the others are still checked. ``progress(done)`` is told how many files
    of the current set have been read.
    """
    findings = Findings()
    findings.info = _inspect(pair_sets, findings, progress, **reading)
    return findings


def _inspect(pair_sets, findings, progress, decode=True, preprocess=DEFAULT_PREPROCESS,
             load_size=None, crop_size=None, input_nc=3, output_nc=3, direction="AtoB",
             batch_size=1, corrupt_records="error"):
    """The checks of ``check_images``; with ``findings``, problems are collected there.
    ``corrupt_records="skip"``: TFRecord records that cannot be read are each a problem of
    their pair, not of their set."""
    def problem(exc, key=None):
        if findings is None:
            raise exc
        findings.problems.append(str(exc))
        if key is not None:
            findings.bad[key] = str(exc)

    if preprocess in ("crop", "scale_width", "scale_width_and_crop"):
        crop_size = _needs("crop_size", crop_size, preprocess)
    if preprocess in ("scale_width", "scale_width_and_crop"):
        load_size = _needs("load_size", load_size, preprocess)
    base = PairFormat(preprocess, load_size or 1, crop_size or 1, direction, input_nc,
                      output_nc)
    seen_keys, depth, first_of_size = set(), 8, {}
    for number, pairs in enumerate(map(as_pairs, pair_sets)):
        fresh = []
        for k in range(len(pairs)):
            key = pairs.key(k)
            if key not in seen_keys:
                seen_keys.add(key)
                fresh.append(k)
        pairs = pairs.subset(fresh)
        if not len(pairs):
            continue
        lost = [] if corrupt_records == "skip" else None
        try:
            pairs.verify(lost)
        except UserError as exc:
            problem(exc)
            continue
        for k in lost or ():
            problem(UserError(f"{pairs.where(k)}: unreadable, a corrupt record at or before it "
                              f"in its shard; {pairs.source.fix}"), pairs.key(k))
        if lost:
            pairs = pairs.subset(sorted(set(range(len(pairs))) - set(lost)))
        fmt = base.replace(layout=pairs.layout)
        infos = _file_infos(pairs, decode, progress)
        for k in range(len(pairs)):
            try:
                size = fmt.train_size(*_pair_size(pairs, k, infos, fmt))
            except UserError as exc:
                problem(exc, pairs.key(k))
                continue
            if number == 0:
                first_of_size.setdefault(size, k)
                if batch_size > 1 and len(first_of_size) > 1:
                    problem(_batch_error(pairs, first_of_size, batch_size, preprocess))
                    batch_size = 1  # said once
        depth = max([depth] + [info[3] for info in infos.values()])
        if findings is not None:
            findings.files.extend(infos[key] for key in sorted(infos))
    return ImageInfo(bit_depth=depth, train_sizes=tuple(sorted(first_of_size)))


def leave_out_bad(*pair_sets, **reading):
    """``--on-bad-file skip``: (``ImageInfo``, the sets without their bad pairs, [(where,
    problem)] of the pairs left out), decoding every file (``decode`` is forced on).

    ``reading`` as ``check_images``' keywords. A pair in several sets is left out of all.
    Problems that are not one pair's (a batch of pairs of several sizes, a TFRecord
    shard that cannot be read) still raise UserError.
    """
    findings = find_problems(*pair_sets, **{**reading, "decode": True,
                                            "corrupt_records": "skip"})
    if len(findings.problems) > len(findings.bad):  # a problem of a set, not of a pair
        raise UserError(next(p for p in findings.problems if p not in findings.bad.values()))
    kept, skipped, seen = [], [], set()
    for pairs in map(as_pairs, pair_sets):
        good = []
        for k in range(len(pairs)):
            key = pairs.key(k)
            if key not in findings.bad:
                good.append(k)
            elif key not in seen:
                seen.add(key)
                skipped.append((pairs.where(k), findings.bad[key]))
        kept.append(pairs.subset(good))
    return findings.info, kept, skipped


def _batch_error(pairs, first_of_size, batch_size, preprocess):
    (size1, k1), (size2, k2) = list(first_of_size.items())[:2]
    return UserError(f"--batch-size {batch_size}: the training pairs differ in size after "
                     f"--preprocess {preprocess} ({pairs.where(k1, 0)} is {size1[1]}x{size1[0]}, "
                     f"{pairs.where(k2, 0)} is {size2[1]}x{size2[0]}), and a batch needs one "
                     "size; use --batch-size 1, or a --preprocess that gives one size "
                     f"({', '.join(FIXED_SIZE_MODES)})")


def bit_depth(pairs):
    """16 if any file of ``pairs`` is a 16-bit PNG, else 8 (reads headers; unreadable files
    are left to the decode to report)."""
    import tensorflow as tf
    from ..pixels import is_16_bit_png
    pairs = as_pairs(pairs)
    if not len(pairs):
        return 8
    wide = pairs.encoded().map(
        lambda k, files: tf.reduce_any([is_16_bit_png(files[p]) for p in range(pairs.parts)]),
        num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    return 16 if wide.reduce(tf.constant(False), tf.logical_or).numpy() else 8
