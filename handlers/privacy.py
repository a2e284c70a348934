"""The user's data rights in the chat: a copy of everything stored (/mydata), named and
explained section by section with the complete JSON attached, and erasure (/delete, with one
confirmation)."""

from __future__ import annotations

import json
from typing import Any

from bot.i18n import language_name
from bot.messages import Attachment, Button, Reply
from db.models import AttendanceStatus, Event, Offer, Organisation, RoleName, SubscriptionKind
from db.privacy import erase_user, export_user
from handlers.actions import action
from handlers.content import event_texts, offer_texts
from handlers.context import Context
from handlers.router import router
from handlers.search import forget_search
from handlers.subscriptions import MODELS, next_digest, target_name
from handlers.ui import menu_button


@router.on_action("mydata", commands=("mydata",))
def my_data(ctx: Context) -> list[Reply]:
    """Say what is stored about the user, by name and why, and attach all of it as JSON."""
    forget_search(ctx)  # a search being paged ends here, so the copy does not show it
    t = ctx.t
    data = export_user(ctx.session, user=ctx.user, state=ctx.state)
    names = _Names(ctx)
    paragraphs = [t._("Here is everything I have stored about you.")]
    paragraphs.extend(section for section in _sections(ctx, data, names) if section)
    paragraphs.append(
        t._("The attached file holds all of it in full, in a form other programs can read.")
    )
    content = json.dumps(names.annotate(data), ensure_ascii=False, indent=2).encode()
    return [
        Reply(
            "\n\n".join(paragraphs),
            attachments=(Attachment("my-data.json", content, "application/json"),),
            buttons=((menu_button(t),),),
        )
    ]


class _Names:
    """Names, in the reader's language, of what the stored rows refer to by id."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def target(self, kind: str, target_id: int) -> str | None:
        try:
            model = MODELS[SubscriptionKind(kind)]
        except ValueError:
            return None
        target = self.ctx.session.get(model, target_id)
        return None if target is None else target_name(self.ctx, kind, target)

    def event(self, event_id: int) -> Event | None:
        return self.ctx.session.get(Event, event_id)

    def event_title(self, event: Event) -> str:
        return event_texts(self.ctx, event).title

    def offer_title(self, offer_id: int) -> str | None:
        offer = self.ctx.session.get(Offer, offer_id)
        return None if offer is None else offer_texts(self.ctx, offer).title

    def organisation(self, organisation_id: int | None) -> str | None:
        if organisation_id is None:
            return None
        organisation = self.ctx.session.get(Organisation, organisation_id)
        return None if organisation is None else organisation.name

    def annotate(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add to the machine-readable copy the names its ids stand for; change nothing else."""
        for row in data["subscriptions"]:
            row["target_name"] = self.target(row["kind"], row["target_id"])
        for row in data["attendances"]:
            event = self.event(row["event_id"])
            row["event_title"] = None if event is None else self.event_title(event)
        for row in data["help_requests"]:
            row["offer_title"] = self.offer_title(row["offer_id"])
            row["organisation_name"] = self.organisation(row["organisation_id"])
        for row in data["roles"]:
            row["organisation_name"] = self.organisation(row["organisation_id"])
        return data


def _section(heading: str, why: str, items: list[str]) -> str:
    return "\n".join([f"▪️ {heading}", why, *(f"• {item}" for item in items)])


def _sections(ctx: Context, data: dict[str, Any], names: _Names) -> list[str]:
    """Return one paragraph per kind of data the user has: its name, why, and its items."""
    t = ctx.t
    user = ctx.user
    about = [t._("Language: %(language)s", language=language_name(user.locale or t.locale))]
    about.append(
        t._("Messages from the bot: paused") if user.paused else t._("Messages from the bot: on")
    )
    if user.alert_mode == "instant":
        about.append(t._("News arrives as soon as it is published."))
    else:
        about.append(
            t._(
                "News arrives once a week; the next summary comes on %(when)s.",
                when=t.datetime(next_digest(ctx.settings, ctx.now)),
            )
        )
    if user.consent_at is not None:
        about.append(
            t._("You agreed to the privacy notice on %(date)s.", date=t.date(user.consent_at))
        )
    sections = [
        _section(
            t.pgettext("data section", "About you"),
            t._(
                "Your messenger ID, your language and your settings, so that I write to you "
                "as you chose."
            ),
            about,
        )
    ]
    following = []
    for row in data["subscriptions"]:
        name = names.target(row["kind"], row["target_id"])
        if name is None:
            continue
        if row["kind"] == SubscriptionKind.CATEGORY:
            following.append(t._("Topic: %(name)s", name=name))
        elif row["kind"] == SubscriptionKind.DISTRICT:
            following.append(t._("District: %(name)s", name=name))
        else:
            following.append(t._("Organisation: %(name)s", name=name))
    if following:
        sections.append(
            _section(
                t.pgettext("data section", "What you follow"),
                t._(
                    "So that I can tell you what is new in these topics, districts and "
                    "organisations."
                ),
                following,
            )
        )
    events = []
    for row in data["attendances"]:
        event = names.event(row["event_id"])
        if event is None:
            continue
        title = names.event_title(event)
        when = t.datetime(event.starts_at, all_day=event.all_day)
        if row["status"] == AttendanceStatus.GOING:
            events.append(t._("%(title)s, %(when)s: you are going.", title=title, when=when))
        else:
            events.append(
                t._("%(title)s, %(when)s: you are on the waiting list.", title=title, when=when)
            )
    if events:
        sections.append(
            _section(
                t.pgettext("data section", "Events you signed up for"),
                t._("So that I can remind you and keep your place."),
                events,
            )
        )
    helping = []
    for row in data["help_requests"]:
        offer = names.offer_title(row["offer_id"]) or ""
        organisation = names.organisation(row["organisation_id"]) or ""
        shared = [value for value in (row["shared_name"], row["shared_contact"]) if value]
        if shared:
            helping.append(
                t._(
                    "%(offer)s (%(organisation)s). You shared: %(shared)s.",
                    offer=offer,
                    organisation=organisation,
                    shared=t.join(shared),
                )
            )
        else:
            helping.append(
                t._("%(offer)s (%(organisation)s).", offer=offer, organisation=organisation)
            )
        if count := len(row.get("messages", [])):
            helping.append(
                t.ngettext(
                    "%(offer)s: %(count)s message between you and %(organisation)s.",
                    "%(offer)s: %(count)s messages between you and %(organisation)s.",
                    count,
                    offer=offer,
                    organisation=organisation,
                )
            )
    if helping:
        sections.append(
            _section(
                t.pgettext("data section", "Offers you asked to help with"),
                t._(
                    "What you agreed to share with the organisation and the messages you "
                    "exchanged, so that they can answer you. A closed request is deleted "
                    "%(days)s days after it was closed.",
                    days=t.number(ctx.settings.retention_help_days),
                ),
                helping,
            )
        )
    written = [row for row in data["help_messages_written"] if row["side"] != "resident"]
    if written:
        sections.append(
            _section(
                t.pgettext("data section", "Your answers to requests to help"),
                t.ngettext(
                    "%(count)s message you wrote for an organisation, kept with its request "
                    "until %(days)s days after it was closed.",
                    "%(count)s messages you wrote for an organisation, kept with their requests "
                    "until %(days)s days after they were closed.",
                    len(written),
                    days=t.number(ctx.settings.retention_help_days),
                ),
                [],
            )
        )
    roles = []
    for row in data["roles"]:
        if row["role"] == RoleName.ADMIN:
            roles.append(t._("You are an administrator."))
        elif organisation := names.organisation(row["organisation_id"]):
            roles.append(t._("You coordinate %(organisation)s.", organisation=organisation))
    if roles:
        sections.append(
            _section(
                t.pgettext("data section", "Your roles"),
                t._("So that you can publish and announce for these organisations."),
                roles,
            )
        )
    if messages := len(data["messages_sent_or_queued"]):
        sections.append(
            _section(
                t.pgettext("data section", "Messages from the bot"),
                t.ngettext(
                    "%(count)s message I sent or will send you on my own. Sent messages are "
                    "deleted after %(days)s days.",
                    "%(count)s messages I sent or will send you on my own. Sent messages are "
                    "deleted after %(days)s days.",
                    messages,
                    days=t.number(ctx.settings.retention_messages_days),
                ),
                [],
            )
        )
    if actions := len(data["audit_entries"]) + len(data["audit_entries_about_the_user"]):
        sections.append(
            _section(
                t.pgettext("data section", "Actions on record"),
                t.ngettext(
                    "%(count)s action by you or about you (such as being made a coordinator), "
                    "kept for %(days)s days as a record of who changed what.",
                    "%(count)s actions by you or about you (such as being made a coordinator), "
                    "kept for %(days)s days as a record of who changed what.",
                    actions,
                    days=t.number(ctx.settings.retention_audit_days),
                ),
                [],
            )
        )
    sections.append(
        _section(
            t.pgettext("data section", "Our conversation"),
            t._(
                "Where we are in the conversation and the last buttons I showed, so that a "
                "typed number presses the right button."
            ),
            [],
        )
    )
    return sections


@router.on_action("delete", commands=("delete",))
def confirm_delete(ctx: Context) -> list[Reply]:
    """Ask once before erasing everything about the user."""
    t = ctx.t
    text = t._(
        "Delete everything I have stored about you: your settings, what you follow, the "
        "events you signed up for, your requests to help with their messages, and your "
        "messages waiting to be sent? This cannot be undone."
    )
    return [
        Reply(
            text,
            buttons=(
                (Button(t.pgettext("button", "🗑 Yes, delete everything"), action("delete_yes")),),
                (Button(t.pgettext("button", "◀ No, keep it"), action("menu")),),
            ),
        )
    ]


@router.on_action("delete_yes")
def delete_everything(ctx: Context) -> list[Reply]:
    """Erase the user; the goodbye is in their language, and nothing of them stays."""
    goodbye = ctx.t._(
        "Everything about you has been deleted. If you write to me again, I will "
        "start from the beginning."
    )
    # Their state goes with them (ON DELETE CASCADE); `user_deleted` keeps it from being
    # written back.
    erase_user(ctx.session, user=ctx.user)
    ctx.user_deleted = True
    return [Reply(goodbye)]


def my_data_button(ctx: Context) -> Button:
    return Button(ctx.t.pgettext("button", "📦 My data"), action("mydata"))


def privacy_buttons(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    t = ctx.t
    return (
        (my_data_button(ctx), Button(t.pgettext("button", "🗑 Delete my data"), action("delete"))),
        (menu_button(t),),
    )
