"""The top layer: what people run. The `cursorcore` CLI, the training glue around Axolotl and model publishing.

Everything here may import from every layer below (core, processing, builders, eval); nothing below imports from
here (tests/core/test_layers.py checks it).
"""
