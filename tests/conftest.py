"""Shared fixtures: transformers kept offline, a fixed seed per test."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub from the tests
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
