"""Who runs greenroom, as labels, locks and history name them."""

from __future__ import annotations

import getpass
import socket


def user_at_host() -> str:
    """user@host of this greenroom process."""
    return f"{getpass.getuser()}@{socket.gethostname()}"
