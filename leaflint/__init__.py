"""leaflint: find the mutations that break PyTorch autograd."""

__version__ = "0.1.0"
