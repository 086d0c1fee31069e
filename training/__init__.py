"""Training: the papers' recipes (train), the data set's images, shards and batches (data).
No Qt; uses the inference core, which never imports this package."""
