"""``python -m kimi_course`` = ``kimi-course``."""

from .cli import app

app()
