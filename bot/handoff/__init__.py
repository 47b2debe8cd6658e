"""People: the escalation lifecycle (open -> claimed -> resolved, handed back) and agent accounts."""
