"""Dialog tables for "I'm going", the waiting list, following and "My subscriptions"."""

import pytest

from bot.app import App
from tests.dialog import Dialog, run_table
from tests.test_dialog_browse import english

pytestmark = pytest.mark.both_databases


def test_going_and_not_going(app: App) -> None:
    dialog = english(app)
    run_table(
        dialog,
        [
            ("[e:1]", ["0 people are going.", "40 places left.", "I'm going"]),
            # One short line with the card's buttons as they are now; the card is not repeated.
            (
                "@I'm going",
                ["you are going to", "remind you 2 times: 1 day and 2 hours before", "Can't come"],
            ),
            ("[e:1]", ["1 person is going.", "39 places left.", "You are going.", "Can't come"]),
            ("[go:1]", ["you are going to", "Can't come"]),
            ("@Can't come", ["Give up your place at", "No, I'm still coming"]),
            ("@Yes, I can't come", ["no longer signed up"]),
            ("[nogo:1]", ["You were not signed up"]),
            ("[nogo_yes:1]", ["You were not signed up"]),
            ("[e:1]", ["0 people are going."]),
        ],
    )


def test_my_subscriptions_follow_and_unfollow(app: App) -> None:
    dialog = english(app)
    run_table(
        dialog,
        [
            ("@My subscriptions", ["You do not follow anything yet", "once a week"]),
            ("[oc:1:0]", ["Follow"]),
            ("@Follow", ["You now follow", "Once a week"]),
            ("[oc:1:0]", ["Unfollow"]),
            ("[od:1:0]", ["Follow"]),
            ("@Follow", ["You now follow"]),
            ("[e:3]", ["I'm going"]),
            ("@I'm going", ["you are going"]),
            (
                "/subscriptions",
                ["You follow 2 topics, districts or organisations.", "Unfollow", "Sprachcaf"],
            ),
            ("@Tell me at once", ["as soon as it is published", "Weekly summary instead"]),
        ],
    )
    first_unfollow = next(label for label in dialog.labels if label.startswith("🔕"))
    dialog.tap(first_unfollow)
    assert "You no longer follow" in dialog.text
    assert "You follow 1 topic, district or organisation." in dialog.text


def test_follow_an_organisation_from_an_offer(app: App) -> None:
    dialog = english(app)
    dialog.press("o:1")
    follow = next(label for label in dialog.labels if label.startswith("🔔 Follow"))
    dialog.tap(follow)
    assert "You now follow" in dialog.text
    dialog.press("o:1")
    assert not any(label.startswith("🔔 Follow") for label in dialog.labels)


def test_forged_subscription_buttons(app: App) -> None:
    dialog = english(app)
    for forged in ("fol:x:1", "fol:c:99999", "unf:g:424242", "amode:never", "go:999999"):
        dialog.press(forged)
        assert "no longer" in dialog.text, forged


def test_a_full_event_offers_the_waiting_list_in_arabic(app: App) -> None:
    for n in range(12):
        other = Dialog(app.conversation, user=f"p{n}")
        other.onboard("de")
        other.press("go:7")
    ahmad = Dialog(app.conversation, user="ahmad")
    ahmad.onboard("ar")
    ahmad.press("e:7")
    ar = app.translations.get("ar")
    assert ar.directed(ar.pgettext("button", "⏳ Join the waiting list")) in ahmad.labels
    ahmad.press("go:7")
    assert ahmad.last[0].rtl
    assert "\u2068١\u2069" in ahmad.text or "\u20681\u2069" in ahmad.text
