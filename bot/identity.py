"""Who this process is among the workers of one database: ``host:pid:random``.

The outbox claims reports under it and the channel leases name their owner by it. The
random part tells apart two processes that reuse a host name and pid (a restarted
container is pid 1 on the same host name again).
"""

from __future__ import annotations

import os
import secrets
import socket

__all__ = ["WORKER_ID"]

#: This process's worker id, the same for every part of it.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
