"""Live meters: Prometheus metrics (served at /metrics) and the spend budget every model call is
checked against."""
