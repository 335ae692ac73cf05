"""gunicorn settings for the production shape (``gunicorn -c python:ops.gunicorn_conf``).

Prometheus' multiprocess mode (V2): a worker that exits leaves its sample files behind; its
live gauges (open live connections) must stop counting, so the master marks it dead. Counters
of dead workers are kept on purpose: a restart must not make a counter go backwards.

The directory (``PROMETHEUS_MULTIPROC_DIR``) must be empty when the machine's processes start
(``make prod`` makes a fresh one; under systemd, ``RuntimeDirectory=`` does it) and shared by
the web workers, the webhook worker and the listener of the machine, which all write there.
"""

import os

from prometheus_client import multiprocess

# The deployment's usual values; the command line (`make prod`, ops.stack) may override them.
worker_class = "gthread"
threads = 8


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
