"""The nginx proxy: which part renders, which talks to nginx, which is the pod.

model.py        pure: the pod's containers and nginx instances, the routing state it keeps
render.py       pure: nginx.conf from the routing table (pools, retiring); greenroom.js routes
greenroom.js    the njs router: switches colors without a reload
tls_conf.py     pure: the HTTPS parts of nginx.conf (TLS server, redirect, ACME challenge path)
tls.js          njs: each handshake's certificate by SNI from the shared dict, the redirect, ACME tokens
admin.py        talking to a running nginx: its admin listener, directly or by exec
pod.py          the adapter: create the pod, reboot beside, apply config safely, confirm
protocol.py     the proxy as a deploy drives it (the adapter and the unit tests' fake satisfy it)
"""
