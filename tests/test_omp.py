"""Releasing the loading thread's OpenMP team (writing/runtime/omp.py) is real and harmless."""

from __future__ import annotations

import sys
import threading

import pytest
import torch

from writing.runtime import omp


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="torch ships libgomp on Linux only")
def test_release_frees_the_team_and_torch_keeps_working():
    big = torch.randn(2048, 2048)
    expected = (big @ big).sum()  # a parallel region: this thread now owns an OpenMP team
    assert omp.release_thread_pool() is True
    assert torch.allclose((big @ big).sum(), expected)  # the team is re-created on demand
    results = []
    worker = threading.Thread(target=lambda: results.append((big @ big).sum()))
    worker.start()
    worker.join()
    assert torch.allclose(results[0], expected)
    assert omp.release_thread_pool() is True  # releasing twice is fine
