"""The fleet: many hosts, one rollout plan over them (rollout: pure)."""
