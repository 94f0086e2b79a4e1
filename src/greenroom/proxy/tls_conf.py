"""Pure: the HTTPS parts of the proxy's nginx.conf.

Certificates are not in the config: tls.js answers each handshake's certificate and key
(`data:` PEM, from the shared dict, chosen by SNI among the hosts of apps with tls), so
installing or renewing one is an admin call, never a reload. A name no app has gets a
handshake failure (an empty certificate), never another app's certificate.
Protocols and ciphers: Mozilla's "intermediate" profile (TLS 1.2 and 1.3).
"""

from __future__ import annotations

TLS_DIR = "/var/lib/greenroom/tls"  # in the proxy's state volume: <app>.pem (0600) and <app>.json
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
MOZILLA_INTERMEDIATE_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    ]
)


def http_block(https_port: int) -> str:
    """Inside `http {}`: the njs handlers HTTPS and the challenge use; `https_port` is the
    port clients reach HTTPS on, put in the redirects (left out when 443)."""
    return f"""    js_import tls from tls.js;
    map "" $gr_https_port {{ default "{https_port}"; }}
    js_set $gr_tls tls.cert;  # key + chain for this handshake's SNI (one evaluation per handshake)
    js_set $gr_redirect tls.redirect;  # https://... for a plain request to a host with tls
    js_set $gr_challenge tls.challenge;"""


def server_tls(listen: int) -> str:
    """The listen and ssl lines of the HTTPS server."""
    return f"""        listen {listen} ssl default_server reuseport;
        http2 on;
        ssl_certificate data:$gr_tls;
        ssl_certificate_key data:$gr_tls;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {MOZILLA_INTERMEDIATE_CIPHERS};
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:gr_tls:10m;
        ssl_session_timeout 1d;
        ssl_session_tickets off;
        # a handshake for a name no app has fails (nginx cannot load the empty certificate):
        # expected, so not logged; every location below logs as the rest of the proxy does
        error_log stderr crit;"""


def location_log() -> str:
    """In each location of the HTTPS server: its requests' errors are logged as elsewhere."""
    return "            error_log stderr warn;\n"


def redirect_line() -> str:
    """First thing a plain-HTTP location does: a TLS app's host goes to https://."""
    return '            if ($gr_redirect) { return 308 "$gr_redirect"; }\n'


def hsts_line() -> str:
    return "            add_header Strict-Transport-Security $gr_hsts always;\n"


def challenge_location(proxied: str) -> str:
    """The ACME HTTP-01 path: a token greenroom pushed is answered by the proxy; any other
    goes to the app like every path."""
    return f"""        location ^~ {CHALLENGE_PREFIX} {{
            default_type text/plain;
            if ($gr_challenge) {{ return 200 "$gr_challenge"; }}
{proxied}
        }}"""


def admin_locations() -> str:
    """tls.js's admin calls: install a certificate, push a challenge token."""
    return """        location /greenroom/tls { js_content tls.admin; }
        location /greenroom/challenge/ { js_content tls.admin; }"""
