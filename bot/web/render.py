"""Every HTML (and SVG) page of bot/web is a Jinja2 template in bot/web/templates/, rendered here.

Autoescape is on for every template, so any value a template shows ({{ x }}) is escaped: customer
text, agent names, intents and the like are hostile input, and a new page is safe without anyone
remembering to escape. Only an already rendered template (a chart's SVG) is a Markup and goes in
as it is. Python code in bot/web builds data, never markup (tests/test_web_templates.py checks).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

ENV = Environment(loader=PackageLoader("bot.web", "templates"), autoescape=True, undefined=StrictUndefined)


def render(template: str, **context: Any) -> Markup:
    """The template (a path under bot/web/templates/) rendered with `context`, escaped."""
    return Markup(ENV.get_template(template).render(**context))
