"""Sign-in: a visitor of an exposed web app can classify but never write; a password or OIDC lets one in."""

from __future__ import annotations

import responses

from tests.webapp.conftest import API, model_info, prediction
from tests.webapp.test_classify import _upload


def sign_in_app():
    import streamlit as st
    from auth import sidebar, signed_in

    sidebar()
    st.write(f"signed in: {signed_in()}")


def _signed_in(at) -> bool:
    return any(m.value == "signed in: True" for m in at.markdown)


@responses.activate
def test_an_exposed_app_without_a_password_classifies_but_takes_no_feedback(page, exposed, videos):
    responses.post(f"{API}/predict", json=prediction("walk"))
    responses.get(f"{API}/model", json=model_info())
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    assert at.metric[0].value == "walk"  # classifying works for anyone
    assert not at.selectbox and "Sign in" in at.info[-1].value  # no feedback form
    assert not [c for c in responses.calls if c.request.url.endswith("/feedback")]
    calls = len(responses.calls)
    at = page("model").run()
    assert "Sign in" in at.info[0].value and not at.metric  # nor the Model page
    assert len(responses.calls) == calls  # which never asked the API


def test_the_sidebar_says_why_feedback_is_off(exposed):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(sign_in_app).run()
    assert "CLIPWATCH_WEBAPP_PASSWORD" in at.sidebar.warning[0].value and not _signed_in(at)


def test_a_password_lets_a_visitor_in_and_wrong_ones_are_throttled(exposed, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CLIPWATCH_WEBAPP_PASSWORD", "open sesame")
    at = AppTest.from_function(sign_in_app).run()
    assert not _signed_in(at)
    at.sidebar.text_input[0].input("wrong")
    at = at.sidebar.button[0].click().run()
    assert at.sidebar.error[0].value == "Wrong password." and not _signed_in(at)
    at.sidebar.text_input[0].input("open sesame")
    at = at.sidebar.button[0].click().run()
    assert _signed_in(at)

    other = AppTest.from_function(sign_in_app).run()  # another visitor guessing
    for _ in range(5):
        other.sidebar.text_input[0].input("guess")
        other = other.sidebar.button[0].click().run()
    other.sidebar.text_input[0].input("open sesame")
    other = other.sidebar.button[0].click().run()
    assert "Too many wrong passwords" in other.sidebar.error[0].value and not _signed_in(other)

    # The guesser paused only itself: a visitor from another address signs in at once.
    import auth

    monkeypatch.setattr(auth, "_who", lambda: "198.51.100.9")
    third = AppTest.from_function(sign_in_app).run()
    third.sidebar.text_input[0].input("open sesame")
    third = third.sidebar.button[0].click().run()
    assert _signed_in(third)


def test_oidc_when_configured_replaces_the_password(exposed, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CLIPWATCH_WEBAPP_PASSWORD", "unused")
    at = AppTest.from_function(sign_in_app)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8081/oauth2callback", "cookie_secret": "x"}
    at.run()
    assert [b.label for b in at.sidebar.button] == ["Log in"] and not _signed_in(at)
    assert not at.sidebar.text_input  # no password form beside it
    # Without an allowlist every account the provider knows could write: the sidebar says feedback is off.
    assert "CLIPWATCH_WEBAPP_ALLOWED_USERS" in at.sidebar.warning[0].value


def test_an_oidc_account_writes_only_when_the_allowlist_names_it_or_its_domain():
    from auth import allowed

    spec = "ana@example.org, @lab.example.com"
    assert allowed("ana@example.org", spec) and allowed("Bo@Lab.Example.com", spec)
    assert not allowed("eve@example.org", spec)  # same provider, not on the list
    assert not allowed("eve@evil-lab.example.com.attacker.net", spec)
    assert not allowed("eve@notlab.example.com", spec)  # a domain is matched whole, from its "@"
    assert not allowed("ana@example.org", "") and not allowed(None, spec) and not allowed("no-at-sign", spec)


def test_on_localhost_the_one_user_needs_no_sign_in_unless_told(exposed, monkeypatch):
    from streamlit.testing.v1 import AppTest

    exposed("127.0.0.1")  # make run
    monkeypatch.setenv("CLIPWATCH_WEBAPP_PASSWORD", "pw")
    assert _signed_in(AppTest.from_function(sign_in_app).run())
    monkeypatch.setenv("CLIPWATCH_WEBAPP_SIGN_IN", "always")  # a reverse proxy in front of it
    at = AppTest.from_function(sign_in_app).run()
    assert not _signed_in(at) and at.sidebar.text_input
