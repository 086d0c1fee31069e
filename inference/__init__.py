"""Qt-free inference core: models, checkpoints, the viewport decoder, the render
worker's pure logic, evaluation and training. Never imports Qt."""
