"""The GPUs of the service's machine, handed out to runs: each run sees only its own.

A run that asks for `resources.gpu` GPUs gets that many devices of the pool as its
`CUDA_VISIBLE_DEVICES` (a distributed run's ranks then take one each, by local rank) and gives
them back when it ends, so two runs never train on one GPU. The pool is the service's
`TRAINYARD_GPU_DEVICES` (device indices or UUIDs); without it, runs see the service's GPUs as
before.
"""

from __future__ import annotations

import threading


class DevicesBusy(RuntimeError):
    """Not enough free devices now; a run that ends frees some (the gateway tries again)."""


class DevicePool:
    def __init__(self, devices: list[str]) -> None:
        self.devices = list(devices)
        self._held: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str) -> DevicePool | None:
        devices = [each.strip() for each in text.split(",") if each.strip()]
        return cls(devices) if devices else None

    def free(self) -> list[str]:
        with self._lock:
            return self._free()

    def _free(self) -> list[str]:
        held = {device for devices in self._held.values() for device in devices}
        return [device for device in self.devices if device not in held]

    def take(self, run_id: str, count: int) -> list[str]:
        """`count` free devices for the run (those it holds already, if it holds some)."""
        with self._lock:
            if run_id in self._held:
                return list(self._held[run_id])
            if count > len(self.devices):
                raise DevicesBusy(
                    f"{count} GPUs asked for; this machine's pool has {len(self.devices)}"
                )
            free = self._free()
            if len(free) < count:
                raise DevicesBusy(f"{count} GPUs asked for, {len(free)} free now")
            self._held[run_id] = free[:count]
            return list(self._held[run_id])

    def hold(self, run_id: str, devices: list[str]) -> None:
        """A run found again after a restart keeps the devices it had."""
        with self._lock:
            self._held[run_id] = [device for device in devices if device in self.devices]

    def give_back(self, run_id: str) -> None:
        with self._lock:
            self._held.pop(run_id, None)
