"""Server-side confirmation of destructive actions (delete a project, remove a document,
delete a note or a chat).

The first click asks the question and issues a short-lived, single-use nonce bound to the
action and its target; the second click must bring it back. The check is in the handler, so
a raw `/gradio_api/queue/join` call to the delete handler (which any page script or API client
could make by `fn_index`) does nothing without a nonce issued for that very target.
"""

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Final

from engine import TomesError

__all__ = ["CONFIRM_TTL_S", "Confirmations", "NotConfirmed"]

#: How long a confirmation question stays answerable.
CONFIRM_TTL_S: Final = 120.0


class NotConfirmed(TomesError):
    """A destructive action arrived without a valid confirmation."""


@dataclass
class Confirmations:
    """Nonces issued by confirmation questions, each good once for one (action, target)."""

    ttl_s: float = CONFIRM_TTL_S
    _issued: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, action: str, target: object) -> str:
        """A nonce for confirming `action` on `target` (e.g. "delete project", "Acme")."""
        nonce = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            for key, (_, _, expires) in list(self._issued.items()):
                if expires < now:
                    del self._issued[key]
            self._issued[nonce] = (action, str(target), now + self.ttl_s)
        return nonce

    def check(self, action: str, target: object, nonce: str | None) -> None:
        """Consume `nonce` for `action` on `target`, or raise NotConfirmed saying why."""
        with self._lock:
            found = self._issued.pop(nonce or "", None)
        if found is None:
            raise NotConfirmed(
                f"{action} needs confirming: click the button again and answer the question"
            )
        issued_action, issued_target, expires = found
        if (issued_action, issued_target) != (action, str(target)):
            raise NotConfirmed(f"that confirmation was for something else; {action} again")
        if time.monotonic() > expires:
            raise NotConfirmed(f"the confirmation expired; {action} again")
