"""Model versions are signed: a pickle runs code when it loads, so no process unpickles one the trainer
did not write.

Whoever publishes a version (`clipwatch train`, a retrain, the trainer, a fine-tune) signs its
model.pkl and metadata.json with HMAC-SHA256 under the model key; every process that loads a version
(the API, the watcher, a rollback, the champion in a retrain) checks the signature before unpickling,
and refuses a missing or wrong one with a clear message. The key comes from CLIPWATCH_MODEL_KEY (in
Kubernetes, a Secret given only to the pods that load models), else from <secrets>/model_key, which
`clipwatch bootstrap` (or the first publish) generates. A process that can write artifacts/ but does
not hold the key can no longer plant code in the next model load.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

from clipwatch.errors import ArtifactError
from clipwatch.paths import METADATA_FILE, MODEL_FILE, Paths
from clipwatch.secrets import ensure_secrets, read_secret

SIGNATURE_FILE = "signature.json"
SIGNED = (MODEL_FILE, METADATA_FILE)
ENV = "CLIPWATCH_MODEL_KEY"
ALGORITHM = "HMAC-SHA256"


def model_key(paths: Paths, create: bool = False) -> bytes | None:
    """The model key: the environment's, else the secrets folder's; with create, generated if missing."""
    given = os.environ.get(ENV, "").strip()
    if given:
        return given.encode()
    if create:
        ensure_secrets(paths.secrets, names=("model_key",))
    secret = read_secret(paths.secrets, "model_key")
    return secret.get_secret_value().encode() if secret else None


def _mac(key: bytes, vdir: Path) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for name in SIGNED:  # name and length framed, so bytes can't move from one file to the other
        data = (vdir / name).read_bytes()
        mac.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return mac.hexdigest()


def sign(key: bytes, vdir: Path) -> None:
    doc = {"algorithm": ALGORITHM, "files": list(SIGNED), "mac": _mac(key, vdir)}
    (vdir / SIGNATURE_FILE).write_text(json.dumps(doc, indent=2) + "\n")


def verify(key: bytes | None, vdir: Path, name: str) -> None:
    """Raises ArtifactError unless the version's files carry a valid signature under key."""
    if key is None:
        raise ArtifactError(
            f"model version {name} not loaded: no model key to check its signature with "
            f"(set {ENV}, or run `clipwatch bootstrap`, which writes one into the secrets folder)"
        )
    try:
        doc = json.loads((vdir / SIGNATURE_FILE).read_text())
        given = str(doc["mac"])
    except FileNotFoundError:
        raise ArtifactError(
            f"model version {name} is unsigned, so it is not unpickled: it was not published by clipwatch "
            "with this install's model key (versions from before signing: `clipwatch bootstrap --sign-existing`)"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise ArtifactError(f"model version {name}: {SIGNATURE_FILE} is unreadable, so it is not unpickled") from None
    if not hmac.compare_digest(given, _mac(key, vdir)):
        raise ArtifactError(
            f"model version {name}: its signature does not match its files (changed after publishing, or signed "
            f"with another model key), so it is not unpickled"
        )
