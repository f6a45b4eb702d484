"""Holds sitecustomize.py, put on PYTHONPATH for processes started by `leaflint probe`."""
