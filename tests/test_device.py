"""Where the networks run: the choice, its log line and the name a benchmark row records."""

from __future__ import annotations

import logging

import pytest
import torch

from diffseg.runtime.device import device_name, pick_device, synchronise
from diffseg.runtime.errors import ConfigError


def test_the_cpu_is_chosen_without_a_gpu_and_named_with_its_threads(caplog, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="diffseg"):
        device = pick_device("auto")
    assert device.type == "cpu"
    assert device_name(device) == f"cpu ({torch.get_num_threads()} threads)"
    assert f"device: cpu ({torch.get_num_threads()} threads)" in caplog.text
    synchronise(device)  # nothing queued on a CPU: returns at once


def test_a_gpu_asked_for_and_absent_or_an_unknown_device_is_a_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="cuda was asked for"):
        pick_device("cuda")
    with pytest.raises(ConfigError, match="'tpu' is not one of"):
        pick_device("tpu")


def test_a_gpu_is_named_by_torch(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    assert device_name(torch.device("cuda")) == "NVIDIA H200"
