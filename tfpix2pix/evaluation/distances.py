"""Distances between two sets of Inception features: FID and KID, in numpy.

FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to the two sets:
``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``. The trace of the square root
is computed from symmetric eigen-decompositions, without scipy: with R = S1^(1/2),
S1 S2 = R (R S2) has the eigenvalues of R S2 R, which is symmetric and positive
semi-definite, so tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of R S2 R). Tiny negative
eigenvalues from rounding are taken as 0.

For sets smaller than the feature size (a test split of a few hundred images against
2048 features) ``fid`` takes a shorter way to the same number: with A and B the centred
features (N1 x d, N2 x d), S1 S2 = A'A B'B / k with k = (N1 - 1)(N2 - 1) has the non-zero
eigenvalues of M M' / k, M = A B' (N1 x N2), so tr((S1 S2)^(1/2)) is the sum of M's
singular values over sqrt(k), and tr(S1) = |A|^2 / (N1 - 1). No d x d matrix is formed.

KID (Bińkowski et al. 2018) is the unbiased estimate of the squared MMD with the
polynomial kernel k(x, y) = (x . y / d + 1)^3, d the feature size, averaged over
``KID_SUBSETS`` random subsets of ``min(n, KID_SUBSET_SIZE)`` features of each set
(drawn without replacement, seeded). When both sets have at most ``KID_SUBSET_SIZE``
images of the same count, a subset would be the whole set: the estimate is computed once,
on the whole sets (``subsets`` 1, ``std`` 0). KID is
unbiased, so it suits the 100-500 images of a test split, where FID is biased upward;
it can come out slightly below 0 when the sets are alike.
"""

import numpy as np

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 0


def _sqrt_psd(matrix):
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh(matrix)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(sigma1, sigma2):
    """tr((sigma1 sigma2)^(1/2)) for two covariance matrices."""
    root = _sqrt_psd(np.asarray(sigma1, np.float64))
    inner = root @ np.asarray(sigma2, np.float64) @ root
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def _checked(features):
    features = np.asarray(features, np.float64)
    if len(features) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(features)}")
    return features


def gaussian(features):
    """(mean, covariance) of an N x d feature set (the unbiased, N - 1, covariance)."""
    features = _checked(features)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """The Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    value = (np.square(mu1 - mu2).sum() + np.trace(sigma1) + np.trace(sigma2)
             - 2.0 * trace_sqrt_product(sigma1, sigma2))
    return float(max(value, 0.0))


def fid(features1, features2):
    """FID between two N x d feature sets (through N1 x N2 matrices when that is smaller)."""
    x, y = _checked(features1), _checked(features2)
    if len(x) * len(y) > x.shape[1] ** 2:
        return frechet_distance(*gaussian(x), *gaussian(y))
    a, b = x - x.mean(axis=0), y - y.mean(axis=0)
    n1, n2 = len(x) - 1, len(y) - 1
    cross = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
    value = (np.square(x.mean(axis=0) - y.mean(axis=0)).sum() + np.square(a).sum() / n1
             + np.square(b).sum() / n2 - 2.0 * cross)
    return float(max(value, 0.0))


def polynomial_kernel(x, y):
    """(x . y / d + 1)^3 for the rows of x and y."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """The unbiased squared MMD between samples x (m x d) and y (n x d), polynomial kernel."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean())


def kid(features1, features2, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=KID_SEED):
    """{"mean", "std", "subsets", "subset_size"}: KID over random subsets of both sets."""
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    size = min(len(x), len(y), subset_size)
    if size < 2:
        raise ValueError(f"KID needs at least 2 images per set, got {size}")
    if size == len(x) == len(y):
        subsets, values = 1, [mmd2_unbiased(x, y)]
    else:
        rng = np.random.default_rng(seed)
        values = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)],
                                y[rng.choice(len(y), size, replace=False)])
                  for _ in range(subsets)]
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "subsets": subsets,
            "subset_size": size}
