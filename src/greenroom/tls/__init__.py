"""HTTPS at the proxy: certificate files, ACME, and where they are kept."""
