"""hands: autonomous agents on a cron schedule, from ``hands/<id>/HAND.toml``.

Modules::

    spec     HandSpec (the seed's HAND.toml format), load_hands
    runs     the prompt, one run, its record and real-outcome metrics in state
    worker   Hands: agents, cron bindings, hand::* functions
"""

from .runs import build_prompt, execute
from .spec import HandSpec, load_hands
from .worker import Hands

__all__ = ["HandSpec", "Hands", "build_prompt", "execute", "load_hands"]
