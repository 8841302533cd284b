"""The "Your actions" page (AppTest, the API faked at the HTTP boundary): who may use it, what it shows."""

from __future__ import annotations

import responses

from tests.webapp.conftest import API

ESTIMATE = {
    "classes": ["fall", "ok"],
    "clips": 8,
    "protocol": "random folds: may overstate accuracy on clips cut from the same recordings",
    "evaluation": "3-fold stratified CV, random folds: may overstate accuracy on clips cut from the same recordings",
    "folds": 3,
    "accuracy": 0.875,
    "macro_f1": 0.873,
    "balanced_accuracy": 0.875,
    "per_class_recall": {"fall": 1.0, "ok": 0.75},
    "confusion_matrix": [[4, 0], [1, 3]],
    "calibration": {"temperature": 1.2, "ece": 0.05, "ece_uncalibrated": 0.1, "reliability": []},
}


def project(actions):
    return {"name": "mine", "actions": actions, "clips": [], "bytes": 0, "jobs": []}


def action(name, clips, recordings, needs=()):
    return {
        "action": name,
        "clips": clips,
        "recordings": recordings,
        "clips_without_recording": 0,
        "needs": list(needs),
    }


@responses.activate
def test_an_exposed_app_shows_the_page_only_to_signed_in_users(page, exposed):
    at = page("actions").run()
    assert not at.exception
    assert "Sign in" in at.info[0].value and not at.button
    assert not responses.calls  # the API was never asked


@responses.activate
def test_each_action_says_what_it_still_needs_and_a_random_fold_estimate_is_flagged(page):
    responses.get(f"{API}/projects", json={"projects": [{"name": "mine", "clips": 8, "actions": 2}], "max": 20})
    needs = ["clips from a second recording, for an estimate grouped by recording"]
    responses.get(f"{API}/projects/mine", json=project([action("fall", 4, 2), action("ok", 4, 1, needs)]))
    responses.post(f"{API}/projects/mine/jobs", json={"id": "a" * 12, "kind": "estimate", "status": "queued"})
    responses.get(
        f"{API}/projects/mine/jobs/{'a' * 12}",
        json={"id": "a" * 12, "kind": "estimate", "status": "done", "result": ESTIMATE},
    )
    at = page("actions").run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert "fall: 4 clips, 2 recordings (ready)" in labels
    assert f"ok: 4 clips, 1 recording ({needs[0]})" in labels
    next(b for b in at.button if b.label == "Estimate").click().run()
    assert not at.exception
    assert [m.value for m in at.metric][:1] == ["0.875"]
    assert any("may be too high" in w.value for w in at.warning)  # random folds, said so


@responses.activate
def test_a_refused_deploy_says_why_and_a_promoted_one_offers_the_switch_back(page):
    responses.get(f"{API}/projects", json={"projects": [{"name": "mine", "clips": 8, "actions": 2}], "max": 20})
    responses.get(f"{API}/projects/mine", json=project([action("fall", 4, 2), action("ok", 4, 2)]))
    responses.post(f"{API}/projects/mine/jobs", json={"id": "b" * 12, "kind": "deploy", "status": "queued"})
    refused = {"outcome": "kept", "previous_version": "v0001", "reason": "balanced accuracy 0.500 ... chance"}
    responses.get(
        f"{API}/projects/mine/jobs/{'b' * 12}",
        json={"id": "b" * 12, "kind": "deploy", "status": "done", "result": refused},
    )
    at = page("actions").run()
    next(b for b in at.button if b.label == "Train and deploy").click().run()
    assert not at.exception
    assert any(w.value.startswith("Not deployed: balanced accuracy") for w in at.warning)
    assert not [b for b in at.button if b.label.startswith("Switch back")]

    promoted = {**ESTIMATE, "outcome": "promoted", "previous_version": "v0001", "version": "v0002", "reason": ""}
    responses.replace(
        responses.GET,
        f"{API}/projects/mine/jobs/{'b' * 12}",
        json={"id": "b" * 12, "kind": "deploy", "status": "done", "result": promoted},
    )
    next(b for b in at.button if b.label == "Train and deploy").click().run()
    assert any("v0002 is live: it knows fall, ok" in s.value for s in at.success)
    assert [b.label for b in at.button if b.label.startswith("Switch back")] == ["Switch back to v0001"]
