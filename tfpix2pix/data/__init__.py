"""Paired-image datasets: folders of [A | B] images -> tf.data pipelines."""
