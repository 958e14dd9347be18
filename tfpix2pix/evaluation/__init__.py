"""Scoring a model on a dataset split: ``python -m tfpix2pix.evaluate``.

The flow, one module a step: ``split`` reads the split's pairs as training decodes them,
at the protocol's size; ``runner`` translates each pair and collects the scores of
``metrics`` (L1, PSNR, SSIM with bootstrap intervals), ``palettes`` (label-map accuracy
and IoU) and ``inception`` + ``distances`` (FID, KID); ``report`` writes metrics.json,
per_image.csv, the confusion matrix and the sample page. docs/evaluate.md is the manual.
"""
