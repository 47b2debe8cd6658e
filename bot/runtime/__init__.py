"""The queues around the pipeline: the inbox of platform events, the worker that drains it, the outbox
that delivers replies, and the channel interface platforms implement."""
