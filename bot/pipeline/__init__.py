"""The steps one message goes through (guardrails, signals, policy, knowledge, decide, respond) and the
orchestrator, the one place that knows their order."""
