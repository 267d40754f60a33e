"""The servers a sweep talks to (a database storage, an MLflow server): checked before a
sweep starts, so that an unreachable one fails at once with the config key that names it."""

from __future__ import annotations

import logging
import socket
import urllib.parse

from uhecr import provenance

log = logging.getLogger(__name__)

# A server that does not answer within this many seconds is reported as unreachable: MLflow's
# client would otherwise retry for about four minutes before failing.
REACH_TIMEOUT_S = 5.0


DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306}


def check_reachable(url: str, key: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Fails at once, naming the config key ``key`` (credentials masked), when the server of an
    http(s) or database URL takes no TCP connection; local stores (files, SQLite, a database
    on a Unix socket) are not checked."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return
    address = (parts.hostname, parts.port or DEFAULT_PORTS[scheme])
    try:
        socket.create_connection(address, timeout=timeout_s).close()
    except OSError as err:
        raise ValueError(
            f"config key {key}: cannot reach {provenance.redact(url)} "
            f"(TCP {address[0]}:{address[1]}: {err}); start the server or correct the key"
        ) from None
