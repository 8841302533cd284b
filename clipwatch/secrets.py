"""Secrets that exist from the first start: the API key, the web app's and Grafana's passwords, the model key.

Nothing is open by default. When the environment (or .env) does not set a secret, `clipwatch
bootstrap` (what `make run` and the Compose `init` service run) generates a random one into the
secrets folder (CLIPWATCH_SECRETS_DIR, default <artifacts dir>/secrets, a volume of its own in
Compose), readable by its owner only, and says where it is. Every component then reads it from
there, so the web app, the CLI clients and the API agree without anyone typing a key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from clipwatch.errors import ClipwatchError

# file name -> the environment variables that set it instead (the first set one wins)
SECRETS = {
    "api_key": ("CLIPWATCH_API_KEY", "API_KEY"),
    "webapp_password": ("CLIPWATCH_WEBAPP_PASSWORD",),
    "grafana_password": ("GRAFANA_ADMIN_PASSWORD",),
    # signs every model version (clipwatch.signing); only the processes that load models need it
    "model_key": ("CLIPWATCH_MODEL_KEY",),
}
# Grafana runs as its own user and reads its password through GF_SECURITY_ADMIN_PASSWORD__FILE.
WORLD_READABLE = {"grafana_password"}
# A key or password a person chose is refused below this: the sign-in throttle slows guessing, it does
# not make "admin123" safe. Generated ones are 32 characters.
MIN_LENGTH = 16


def read_secret(folder: Path, name: str) -> SecretStr | None:
    try:
        value = (folder / name).read_text().strip()
    except OSError:
        return None
    return SecretStr(value) if value else None


def ensure_secrets(
    folder: Path, env: dict[str, str] | None = None, names: tuple[str, ...] | None = None
) -> dict[str, tuple[Path, str]]:
    """Write each missing secret: the environment's value if it sets one, else a random one.

    Returns name -> (path, "generated" | "from the environment" | "kept"). A file is replaced only
    when the environment sets another value (atomically, so a reader sees the old one or the new)."""
    env = os.environ if env is None else env
    wanted = {n: v for n, v in SECRETS.items() if names is None or n in names}
    for variables in wanted.values():  # every chosen value checked before anything is written
        variable = next((v for v in variables if env.get(v, "").strip()), None)
        if variable is not None and len(env[variable].strip()) < MIN_LENGTH:
            raise ClipwatchError(
                f"{variable} is {len(env[variable].strip())} characters; use at least {MIN_LENGTH} "
                "(or leave it unset, and a random one is generated into the secrets folder)"
            )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    done = {}
    for name, variables in wanted.items():
        path = folder / name
        given = next((env[v].strip() for v in variables if env.get(v, "").strip()), None)
        if path.exists() and (given is None or path.read_text().strip() == given):
            done[name] = (path, "kept")
            continue
        value = given or secrets.token_urlsafe(24)
        mode = 0o644 if name in WORLD_READABLE else 0o600
        tmp = folder / f".{name}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        done[name] = (path, "from the environment" if given else "generated")
    return done
