"""nginx in front of app servers on loopback, configured with the shipped site file (deploy/nginx/emotion.conf):
for the scale-out test and `benchmarks/live_load.py --servers 2`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from tests.browser_harness import free_port, stop_process
from emotion_core.runs import PROJECT_ROOT

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
EXAMPLE_SERVERS = ("10.0.0.11:8501", "10.0.0.12:8501")  # as written in the shipped file


def nginx_config(tmp: Path, listen: int, servers: list[str]) -> Path:
    """The shipped site file with loopback addresses, inside a main config that writes only under tmp."""
    site = (PROJECT_ROOT / "deploy" / "nginx" / "emotion.conf").read_text()
    assert all(example in site for example in EXAMPLE_SERVERS) and "listen 80;" in site
    for example, server in zip(EXAMPLE_SERVERS, servers):
        site = site.replace(example, server)
    (tmp / "emotion.conf").write_text(site.replace("listen 80;", f"listen 127.0.0.1:{listen};"))
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {tmp / kind};" for kind in kinds)
    main = tmp / "nginx.conf"
    main.write_text(f"""worker_processes 1;
daemon off;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'nginx-error.log'} info;
events {{ worker_connections 256; }}
http {{
    log_format routed '$cookie_emotion_server $upstream_addr "$request" $status';
    access_log {tmp / 'nginx-access.log'} routed;
{temp}
    include {tmp / 'emotion.conf'};
}}
""")
    return main


@contextmanager
def nginx(tmp: Path, servers: list[str]):
    """nginx in front of `servers`; yields its URL."""
    port = free_port()
    config = nginx_config(tmp, port, servers)
    check = subprocess.run([NGINX, "-t", "-c", str(config), "-p", str(tmp)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([NGINX, "-c", str(config), "-p", str(tmp)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 20
        while True:  # a bare TCP connect: an HTTP request would take a turn of the round-robin
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError((tmp / "nginx-error.log").read_text(errors="replace")[-2000:])
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, 10)
