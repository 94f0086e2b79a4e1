"""Pure: the proxy's nginx.conf for a given set of settings and upstream pools.

Routing is not in this file: it is read per request from a shared dict by greenroom.js,
so deploys and maintenance mode never reload nginx. greenroom.js answers an address
("10.213.163.116:8000"); a `map` turns every address that has a *pool* into the name of an
`upstream` block with `keepalive`, so the proxy reuses its connections to the app instead
of opening one per request (and leaving a TIME_WAIT socket behind for each). An address
without a pool is still proxied, one connection per request: a pool that is missing (an
app deployed by another greenroom since the last reload) costs speed, never a request.

Pools are declared for every app address a front network can hold (a /29 holds four), so
deploys, colors and replicas reuse them: the config changes only when an app is first
deployed on the host, its port changes, or the proxy's own settings change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from ipaddress import ip_network

from greenroom.proxy import tls_conf

ADMIN_PORTS = (8099, 8098)  # one per nginx instance slot (see proxy_model.py)
ADMIN_PORT = ADMIN_PORTS[0]
CONF_DIR = "/etc/greenroom"
STATE_DIR = "/var/lib/greenroom"
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
PROBE_HEADER = "X-Greenroom-Probe"
STATS_DICT_KB = 1024  # per app and color: 3 counters and 14 latency buckets


@dataclass(frozen=True)
class ProxySettings:
    listen: int = 80
    worker_connections: int = 4096
    dict_size_kb: int = 4096
    # idle pooled connections to an app are closed after this: below every common app
    # server's own idle timeout (so nginx never reuses one the app is closing), and short,
    # so that after a switch the old color's idle pool is gone within it (the drain waits)
    upstream_idle_ms: int = 1000
    upstream_pool_size: int = 64  # idle connections kept per app address and worker
    # peers whose X-Forwarded-Proto and X-Forwarded-For reach the apps (proxy.trusted_proxies)
    trusted_proxies: tuple[str, ...] = ()
    tls_listen: int | None = None  # HTTPS (tls_conf.py) on this port when set
    https_port: int = 443  # the port clients reach HTTPS on: in the redirects from plain HTTP

    def __post_init__(self) -> None:
        for net in self.trusted_proxies:  # written into nginx.conf: networks only, nothing else
            try:
                ok = isinstance(net, str) and str(ip_network(net)) == net
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"trusted proxy {net!r} is not a network written as 10.0.0.0/8")
        if not isinstance(self.listen, int) or not 0 < self.listen < 65536:
            raise ValueError(f"listen must be a port number, not {self.listen!r}")
        if self.tls_listen is not None and self.tls_listen in (self.listen, *ADMIN_PORTS):
            raise ValueError(f"tls_listen {self.tls_listen} collides with listen or the admin ports")
        if self.listen in ADMIN_PORTS:
            raise ValueError(f"listen port {self.listen} collides with the admin ports {ADMIN_PORTS}")


def asset(name: str) -> bytes:
    return resources.files("greenroom.proxy").joinpath(name).read_bytes()


def pool_name(target: str) -> str:
    """The upstream block of one app address: "10.1.2.3:8000" -> "gr_10_1_2_3_8000"."""
    return "gr_" + target.replace(".", "_").replace(":", "_")


def _upstreams(settings: ProxySettings, pools: tuple[str, ...]) -> str:
    blocks = [
        f"""    upstream {pool_name(t)} {{
        server {t} max_fails=0;
        keepalive {settings.upstream_pool_size};
        keepalive_timeout {settings.upstream_idle_ms}ms;
    }}"""
        for t in pools
    ]
    entries = "".join(f'        "{t}" {pool_name(t)};\n' for t in pools)
    pool_map = f"""    map $gr_target $gr_upstream {{
        default $gr_target;
{entries}    }}"""
    return "\n".join([*blocks, pool_map])


def _proxied(uri: str, retire: bool = False, first: str = "", probe: bool = True) -> str:
    """The proxying part of a location: the same for every path in (`first`: a line before).
    `probe`: greenroom's confirm probe (plain HTTP, from inside the proxy) is told which
    upstream answered; the HTTPS server never gets one, so it does not look."""
    retiring = "            if ($gr_retiring) { rewrite ^ /.greenroom-retiring last; }\n" if retire else ""
    upstream = "            add_header X-Greenroom-Upstream $gr_probe_upstream always;\n" if probe else ""
    return f"""{first}            if ($gr_target = "none") {{ return 404 "no app for this host\\n"; }}
            if ($gr_target = "maintenance") {{ return 503; }}
{retiring}            proxy_pass http://$gr_upstream{uri};
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $gr_connection;
            proxy_set_header X-Forwarded-For $gr_forwarded_for;
            proxy_set_header X-Forwarded-Proto $gr_forwarded_proto;
{upstream}            add_header Set-Cookie $gr_cookie always;  # a canary's sticky bucket (empty: none)"""


def _forwarded(settings: ProxySettings) -> str:
    """X-Forwarded-Proto and X-Forwarded-For as the apps get them: passed on (the latter
    appended to) only from a trusted proxy; from anyone else replaced, so no client can
    forge the scheme or its address."""
    trusted = "".join(f"        {net} 1;\n" for net in settings.trusted_proxies)
    return f"""    geo $remote_addr $gr_trusted {{
        default 0;
{trusted}    }}
    map "$gr_trusted|$http_x_forwarded_proto" $gr_forwarded_proto {{
        default $scheme;
        "1|http" http;
        "1|https" https;
    }}
    map $gr_trusted $gr_forwarded_for {{
        default $remote_addr;
        1 $proxy_add_x_forwarded_for;
    }}"""


def _server(listen: str, https: bool | None) -> str:
    """One public server: `https` True for the TLS one, False for plain HTTP beside it, None
    for plain HTTP on a proxy without HTTPS."""
    tail = tls_conf.hsts_line() if https else ""
    log = tls_conf.location_log() if https else ""
    first = tls_conf.redirect_line() if https is False else ""
    challenge = tls_conf.challenge_location(_proxied("")) + "\n" if https is False else ""
    return f"""    server {{
{listen}
        access_log /dev/null gr_count if=$gr_counted;  # counts a staged app's requests, writes nothing
        error_page 503 /greenroom-maintenance.html;
        location = /greenroom-maintenance.html {{
            internal;
            root {CONF_DIR};
            add_header Retry-After 30 always;
{log}        }}
        location = /.greenroom-retiring {{
            internal;
            keepalive_timeout 0;
{_proxied("$request_uri", probe=not https)}
{tail}{log}        }}
{challenge}        location / {{
            # while this generation is being replaced by a reload, every response closes
            # its connection and the client reconnects to the new workers: the old ones
            # never close an idle keep-alive connection under a request just sent on it
{_proxied("", retire=True, first=first, probe=not https)}
{tail}{log}        }}
    }}"""


def _servers(s: ProxySettings) -> str:
    plain = f"        listen {s.listen} default_server reuseport;"
    if s.tls_listen is None:
        return _server(plain, None)
    return _server(plain, False) + "\n" + _server(tls_conf.server_tls(s.tls_listen), True)


def _canary_vars() -> str:
    """A staged color's routing and counting (greenroom.js): gr.target sets the app and
    color of a request of an app with a staged color and the canary's sticky cookie;
    gr.count, evaluated at the log phase, counts it into a number dict."""
    return f"""    js_shared_dict_zone zone=greenroom_stats:{STATS_DICT_KB}k type=number;
    js_var $gr_app;
    js_var $gr_color;
    js_var $gr_cookie;
    js_set $gr_count gr.count;
    map $gr_app $gr_counted {{ "" ""; default $gr_count; }}  # gr.count runs for a staged app only
    log_format gr_count "$gr_count";"""


def render(settings: ProxySettings, pools: tuple[str, ...] = (), admin_port: int = ADMIN_PORT) -> str:
    s = settings
    gen = generation(settings, pools)
    tls_http = tls_conf.http_block(s.https_port) + "\n" if s.tls_listen is not None else ""
    tls_admin = tls_conf.admin_locations() + "\n" if s.tls_listen is not None else ""
    return f"""# generated by greenroom: do not edit (greenroom proxy reboot re-renders it)
load_module {NJS_MODULE};
worker_processes auto;
pid /run/greenroom-nginx.pid;
error_log stderr warn;
events {{ worker_connections {s.worker_connections}; }}
http {{
    access_log off;
    server_tokens off;
    map_hash_max_size 65536;  # before any map: one entry per pool, hundreds of apps
    map_hash_bucket_size 128;
    js_path {CONF_DIR};
    js_import gr from greenroom.js;
    js_shared_dict_zone zone=greenroom:{s.dict_size_kb}k type=string;
    js_set $gr_target gr.target;
{tls_http}    js_var $gr_retiring;  # set by gr.target: "1" while this generation retires
    js_var $gr_hsts;  # set by gr.target on HTTPS: the app's Strict-Transport-Security value
{_canary_vars()}
    map "" $gr_generation {{ default "{gen}"; }}
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_max_body_size 64m;
    proxy_http_version 1.1;
    proxy_buffering off;
    proxy_read_timeout 3600s;
    proxy_send_timeout 3600s;
    proxy_connect_timeout 5s;
    map $http_upgrade $gr_connection {{ default upgrade; "" ""; }}
    map "$remote_addr|$http_{PROBE_HEADER.lower().replace("-", "_")}" $gr_probe_upstream {{
        default "";
        "127.0.0.1|1" $upstream_addr;
    }}
{_forwarded(s)}
{_upstreams(s, pools)}
{_servers(s)}
    server {{
        listen 127.0.0.1:{admin_port};
        location = /greenroom/generation {{ return 200 "$gr_generation\\n"; }}
        location = /greenroom/pools {{ default_type text/plain; alias {CONF_DIR}/pools.txt; }}
        location /greenroom/ {{ js_content gr.admin; }}
{tls_admin}    }}
}}
"""


def generation(settings: ProxySettings, pools: tuple[str, ...] = ()) -> str:
    """A fingerprint of everything the proxy runs: its settings, pools and greenroom's assets."""
    h = hashlib.sha256(repr((settings, tuple(sorted(pools)))).encode())
    h.update(asset("greenroom.js"))
    h.update(asset("maintenance.html"))
    h.update(asset("tls.js"))
    return h.hexdigest()[:12]


def files(
    settings: ProxySettings, pools: tuple[str, ...] = (), admin_port: int = ADMIN_PORT
) -> dict[str, bytes]:
    """Everything that goes into an nginx instance's CONF_DIR."""
    return {
        "nginx.conf": render(settings, tuple(sorted(pools)), admin_port).encode(),
        # what /greenroom/pools serves: too long for a `return` in nginx.conf (4 KiB a token)
        "pools.txt": (" ".join(sorted(pools)) + "\n").encode(),
        "greenroom.js": asset("greenroom.js"),
        "tls.js": asset("tls.js"),
        "greenroom-maintenance.html": asset("maintenance.html"),
    }


def command() -> list[str]:
    """An nginx instance's command: wait for its config (put in after create), make the
    state folders owned by nginx's worker user (the one compiled in: `nobody` for
    Debian's package, `nginx` for the official image), then nginx in the foreground."""
    return [
        "sh",
        "-c",
        f"while [ ! -f {CONF_DIR}/nginx.conf ]; do sleep 0.05; done; "
        f"user=$(nginx -V 2>&1 | sed -n 's/.*--user=\\([^ ]*\\).*/\\1/p'); "
        f'mkdir -p {STATE_DIR}/apps {STATE_DIR}/history && chown -R "${{user:-nobody}}" {STATE_DIR} && '
        f"exec nginx -c {CONF_DIR}/nginx.conf -g 'daemon off;'",
    ]
