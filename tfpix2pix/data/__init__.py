"""Paired-image datasets: [A | B] folders, A/ and B/ folders or TFRecords -> tf.data pipelines."""
