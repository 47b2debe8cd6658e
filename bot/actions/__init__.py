"""Actions: the bot does things on the shop's data (look up an order, start a return).

    form.py   the parameters an action needs, found in the customer's words or asked for
    call.py   the one HTTP call to the shop's API (timeout, retries, secrets from the environment)
    reply.py  the Jinja2 templates that turn the API's JSON answer into the reply

Declared in supportbot.yaml (bot/settings_actions.py); the respond step (bot/pipeline/respond.py) runs
them for the `action` route, the orchestrator carries a form over several turns, Store.finish writes
every call to action_calls. `eval` and `replay` decide only: they say which action would have run.
"""
