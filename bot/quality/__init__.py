"""Offline quality tools over what was stored: eval and replay (the same decide as live traffic),
training, and labelling from what people taught the bot."""
