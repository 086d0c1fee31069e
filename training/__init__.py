"""Training: the papers' recipes (recipes), one method's run (run), its saved
state and resume (run_state), the loop with its stop signals (train), the
release export (export), and the data set's images, shards and batches (data).
No Qt; uses the inference core, which never imports this package."""
