"""Is HQ's HTTP port free? Asked before anything starts, so a busy port is one clear line, not a traceback.

Why before? Starting the database, the embedded broker and the MQTT link only to fail at the last step
(binding the HTTP port) printed a page of errors and, when interrupted, could leave a broker behind.
The check binds the way aiohttp will (``SO_REUSEADDR``, as asyncio does on Unix), so it fails exactly
when the real bind would; the real bind still reports a port taken in between with the same message.
"""

from __future__ import annotations

import errno
import socket


def port_problem_message(host: str, port: int, err: OSError) -> str:
    """One line, Vietnamese first, for an error binding ``host:port``."""
    if err.errno == errno.EADDRINUSE:
        return (f"cổng HTTP {host}:{port} đang được chương trình khác dùng; hãy dừng chương trình đó hoặc đổi "
                f"http.port (HTTP port {host}:{port} is already in use: stop the other program or change http.port)")
    if err.errno == errno.EACCES:
        return (f"không có quyền mở cổng {host}:{port}; dùng cổng từ 1024 trở lên (no permission to listen on "
                f"{host}:{port}: use a port of 1024 or more)")
    if err.errno == errno.EADDRNOTAVAIL:
        return (f"máy này không có địa chỉ {host} (this machine has no address {host}: check http.host)")
    return f"không mở được cổng {host}:{port}: {err.strerror or err} (cannot listen on {host}:{port})"


def http_port_problem(host: str, port: int) -> str | None:
    """None if ``host:port`` can be listened on now, else the message saying why not (port 0: any port)."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError as err:
            return port_problem_message(host, port, err)
    return None
