"""A container's default gateway: the engines' rules, the decisions, the kernel's routes.

rules.py     pure: the engines' ordering rules per version; predict connect and disconnect
decision.py  pure: how to attach a network without moving the gateway (GwPriority, or why none, or refuse)
plan.py      pure: each attach step's decision, made from a deploy's observed state
routes.py    pure: /proc/net/route and ipv6_route parsers, the egress lookup
doctor.py    pure: diagnose a container's gateway (findings with fixes)
connect.py   a safe `docker network connect`: plan (pure), carry out, verify in the kernel's routes
"""
