"""`make run`: start the gateway and the three training services, train a demo job per framework.

Everything runs on this machine with the embedded defaults (SQLite, a local storage folder).
With DEMO=0 it only serves; with DEMO_EXIT=1 it stops after the demo (exit code 1 if a demo
job did not succeed). Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from pathlib import Path

import httpx

from demo import run_demo
from trainyard_dev.launcher import GATEWAY, SERVICES, ManagedProcess, environment_python

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TRAINYARD_DATA_DIR", REPO / ".data")).resolve()


def local_api_key() -> str:
    """The key `make run` protects its gateway with: from the environment, else one made once."""
    given = os.environ.get("TRAINYARD_API_KEYS", "").split(",")[0].strip()
    if given:
        return given
    path = DATA / "api-key"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(f"ty-{secrets.token_urlsafe(24)}\n")
    return path.read_text().strip()


def start_all(processes: list[ManagedProcess], api_key: str) -> str:
    """Start every component (appending to `processes`) and wait until all are healthy."""
    env = {"TRAINYARD_DATA_DIR": str(DATA)}
    gateway_url = f"http://127.0.0.1:{GATEWAY.port}"
    for component in (*SERVICES, GATEWAY):
        port_env = {"PORT": str(component.port)}
        if component is GATEWAY:
            port_env |= {s.env_var: f"http://127.0.0.1:{s.port}" for s in SERVICES if s.env_var}
            port_env["TRAINYARD_API_KEYS"] = os.environ.get("TRAINYARD_API_KEYS") or api_key
        proc = ManagedProcess(
            name=component.name,
            argv=[str(environment_python(REPO, component.name)), "-m", component.module],
            env={**env, **port_env},
            log_path=DATA / "logs" / f"{component.name}.log",
            cwd=REPO,
        ).start()
        processes.append(proc)
    for component, proc in zip((*SERVICES, GATEWAY), processes, strict=True):
        url = f"http://127.0.0.1:{component.port}/health"
        proc.wait_healthy(url, timeout=300)
        print(f"  {component.name:<12} healthy at http://127.0.0.1:{component.port}")
    return gateway_url


def port_in_use(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
    except httpx.HTTPError:
        return False
    return True


def main() -> int:
    busy = [c for c in (GATEWAY, *SERVICES) if port_in_use(c.port)]
    if busy:
        names = ", ".join(f"{c.name} ({c.port})" for c in busy)
        print(f"ports already in use: {names}. Stop what runs there first.", file=sys.stderr)
        return 1
    print(f"Trainyard: starting the platform (data in {DATA})")
    processes: list[ManagedProcess] = []
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        api_key = local_api_key()
        gateway_url = start_all(processes, api_key)
        print(
            f"\nAPI key (kept in {DATA / 'api-key'}): {api_key}\n"
            f"  curl -H 'Authorization: Bearer {api_key}' {gateway_url}/v1/jobs\n"
            f"  export TRAINYARD_API_KEY={api_key}   # for the trainyard command"
        )
        if os.environ.get("DEMO", "1") != "0":
            code = run_demo(gateway_url, DATA / "demo", api_key)
            if os.environ.get("DEMO_EXIT") == "1":
                return code
        print(
            f"\nTrainyard is serving at {gateway_url}  (API docs: {gateway_url}/docs). "
            "Ctrl-C stops it."
        )
        while not stop:
            for proc in processes:
                if not proc.alive():
                    print(f"{proc.name} stopped unexpectedly; see {proc.log_path}", file=sys.stderr)
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        for proc in reversed(processes):
            proc.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
