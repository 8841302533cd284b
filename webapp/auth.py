"""Who may write through the web app.

The app holds the API key, so whoever can send feedback through it writes to prod_data.csv and
triggers retrains. Anyone may classify; feedback and the Model page need a signed-in visitor:

- with OIDC configured (an `[auth]` section in .streamlit/secrets.toml), Streamlit's `st.login`;
- else with a password (CLIPWATCH_WEBAPP_PASSWORD, or the one `clipwatch bootstrap` generated into
  the secrets folder), a sign-in form in the sidebar;
and none of it when the app listens on localhost only, where its one user is the machine's
(`make run`), unless CLIPWATCH_WEBAPP_SIGN_IN=always (a reverse proxy on the same machine makes a
localhost app reachable from elsewhere). An app reachable beyond localhost with neither OIDC nor a
password has no writers at all, and says how to add one.
"""

from __future__ import annotations

import hmac
import threading
import time

import streamlit as st

from clipwatch.settings import Settings

LOCAL_ADDRESSES = {"127.0.0.1", "localhost", "::1"}
MAX_FAILURES, WINDOW_S = 5, 60.0  # wrong passwords from one address, or one session, before it pauses
MAX_ADDRESSES = 10_000  # addresses with recent failures remembered, at most


def local_only() -> bool:
    if Settings().webapp_sign_in == "always":
        return False
    return (st.get_option("server.address") or "") in LOCAL_ADDRESSES


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all
        return False


def password() -> str | None:
    # Read on each run, not cached: a password set or rotated applies without a restart.
    secret = Settings().webapp_password
    return secret.get_secret_value() if secret else None


@st.cache_resource
def _failures() -> tuple[dict[str, list[float]], threading.Lock]:
    """Recent wrong passwords by client address, shared by every session of this process."""
    return {}, threading.Lock()


def _who() -> str:
    """The visitor's address as Streamlit saw it (a balancer's, behind one)."""
    return getattr(st.context, "ip_address", None) or "unknown"


def _recent(times: list[float], now: float) -> list[float]:
    return [t for t in times if now - t < WINDOW_S]


def _throttled() -> float:
    """Seconds until this visitor may try again (0: now). Counted per address and per session, so a
    guesser locks out itself, not every user of the app."""
    now = time.time()
    by_address, lock = _failures()
    with lock:
        mine = by_address[_who()] = _recent(by_address.get(_who(), []), now)
    session = st.session_state["sign_in_failures"] = _recent(st.session_state.get("sign_in_failures", []), now)
    waits = [WINDOW_S - (now - times[0]) for times in (mine, session) if len(times) >= MAX_FAILURES]
    return max(waits, default=0.0)


def _failed() -> None:
    now = time.time()
    by_address, lock = _failures()
    with lock:
        if len(by_address) >= MAX_ADDRESSES:  # many addresses guessing: forget those with nothing recent
            for who in [w for w, times in by_address.items() if not _recent(times, now)]:
                del by_address[who]
        by_address.setdefault(_who(), []).append(now)
    st.session_state.setdefault("sign_in_failures", []).append(now)


def allowed(email: str | None, spec: str) -> bool:
    """Whether an OIDC account is on CLIPWATCH_WEBAPP_ALLOWED_USERS (e-mails and @domains)."""
    if not email or "@" not in email:
        return False
    email = email.strip().lower()
    for entry in (e.strip().lower() for e in spec.split(",")):
        if entry and (email == entry or (entry.startswith("@") and email.endswith(entry))):
            return True
    return False


def signed_in() -> bool:
    if local_only():
        return True
    if oidc_configured():
        # The provider vouches for who it is, not for whether this install should let them write.
        logged_in = bool(getattr(st.user, "is_logged_in", False))
        return logged_in and allowed(getattr(st.user, "email", None), Settings().webapp_allowed_users)
    if password() is not None:
        return bool(st.session_state.get("signed_in"))
    return local_only()


def sidebar() -> None:
    """The sign-in box, on every page."""
    with st.sidebar:
        if local_only():
            st.caption("Local use: feedback is open to this machine only.")
            return
        if oidc_configured():
            if not Settings().webapp_allowed_users.strip():
                st.warning(
                    "Feedback is off: OIDC sign-in needs CLIPWATCH_WEBAPP_ALLOWED_USERS (e-mails or @domains), "
                    "or every account your provider knows could write training data."
                )
            if signed_in():
                st.caption(f"Signed in as {getattr(st.user, 'email', None) or getattr(st.user, 'name', 'you')}.")
                st.button("Log out", on_click=st.logout)
            elif getattr(st.user, "is_logged_in", False):
                st.caption(f"{getattr(st.user, 'email', None) or 'This account'} is not allowed to send feedback here.")
                st.button("Log out", on_click=st.logout)
            else:
                st.button("Log in", on_click=st.login)
            return
        expected = password()
        if expected is not None:
            if signed_in():
                st.caption("Signed in: feedback is on.")
                if st.button("Sign out"):
                    st.session_state.signed_in = False
                    st.rerun()
                return
            with st.form("sign_in"):
                given = st.text_input("Password", type="password")
                submitted = st.form_submit_button("Sign in")
            if submitted:
                wait = _throttled()
                if wait:
                    st.error(f"Too many wrong passwords; try again in {wait:.0f} s.")
                elif hmac.compare_digest(given.encode(), expected.encode()):
                    st.session_state.signed_in = True
                    st.rerun()
                else:
                    _failed()
                    st.error("Wrong password.")
            return
        st.warning(
            "Feedback is off: this web app is reachable beyond localhost and has no password. "
            "Set CLIPWATCH_WEBAPP_PASSWORD (or run `clipwatch bootstrap`, which generates one), "
            "or configure OIDC sign-in."
        )


def require_sign_in(what: str) -> None:
    """Stop the page here for a visitor who is not signed in."""
    if not signed_in():
        st.info(f"Sign in (in the sidebar) to {what}.")
        st.stop()
