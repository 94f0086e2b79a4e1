"""Load-balancer adapters: HAProxy's runtime API (haproxy_text: pure commands and parsers;
haproxy: its transports and the drain/ready hand-off) and generic hooks (hooks)."""
