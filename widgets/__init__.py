"""Reusable Qt widgets. Never import torch here: widgets show arrays, not models."""

