"""What every settings module needs first: the environment (`.env` fills only what the
environment does not set), the project's folders, and the Redis URL every client shares.
Every settings module imports from here, never from `base`, so none imports another."""

from pathlib import Path
from urllib.parse import quote

import environ

BASE_DIR = Path(__file__).resolve().parents[2]
env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")

STATE_DIR = Path(env.str("MESSENGER_STATE_DIR", default=str(BASE_DIR / ".state")))
TIME_ZONE = "UTC"

# The project's Redis asks for REDIS_PASSWORD (scripts/services.sh); every client (Django,
# Celery, Centrifugo's engine, the scripts) gets it through this URL.
_redis_password = quote(env.str("REDIS_PASSWORD", default=""), safe="")
REDIS_URL = env.str("REDIS_URL", default="") or (
    f"redis://{':' + _redis_password + '@' if _redis_password else ''}127.0.0.1:"
    f"{env.int('MESSENGER_REDIS_PORT', default=56379)}/0"
)
