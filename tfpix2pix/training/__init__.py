"""Training: the paper's objective, the distributed step, checkpoints, logging."""
