"""One job over several processes and nodes, with one voice towards the gateway.

The events of a job are numbered per job (`seq`), so only one process may report. A launcher
(`launch.py`) runs torchrun's agent in-process and owns the job's one reporter; each rank's
train.py sends its events to the launcher's relay (`relay.py`) instead, and the launcher
decides the final status of the whole group (`verdict.py`). Nothing here imports torch at
module level: the gateway's environment installs this package without it.
"""
