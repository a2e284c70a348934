"""What the two sides of a request to help are told, rendered in each reader's language when
it goes out: a new request, a message (naming the writer's language), a closed request."""

from __future__ import annotations

from typing import Any

from bot.i18n import Translator
from bot.messages import Button, Reply
from db.help_requests import RESIDENT
from db.models import HelpMessage, HelpRequest, HelpRequestStatus, Offer, Organisation, User
from db.roles import coordinators_of
from handlers.actions import action
from handlers.content import offer_texts
from handlers.context import Context
from handlers.notices import MESSENGERS, renders
from handlers.ui import language_in, menu_button


def messenger_name(transport: str) -> str:
    """Return a messenger's own name ("Telegram")."""
    return MESSENGERS.get(transport, transport.capitalize())


def language_of(t: Translator, locale: str | None) -> str:
    """Name a language in the reader's language."""
    return language_in(locale or t.locale, t)


def resident_name(t: Translator, request: HelpRequest) -> str:
    """The name the resident shared, or a neutral name that still tells requests apart."""
    if request.shared_name:
        return t.isolate(request.shared_name)
    return t._("Someone (no. %(number)s)", number=request.id or 0)


def contact_line(t: Translator, request: HelpRequest, resident: User) -> str:
    """Say how the organisation can reach the resident, as the resident agreed."""
    if request.shared_contact:
        return t._(
            "How to reach them: %(contact)s on %(messenger)s, or write to them here.",
            contact=t.isolate(request.shared_contact),
            messenger=messenger_name(resident.transport),
        )
    return t._("They chose to be answered only through this bot: press “Write a message”.")


def request_buttons(t: Translator, request: HelpRequest) -> tuple[tuple[Button, ...], ...]:
    """Write, close, read back, or go to the menu: what either side can do with an open request."""
    request_id = request.id or 0
    return (
        (Button(t.pgettext("button", "✍️ Write a message"), action("hr_write", request_id)),),
        (Button(t.pgettext("button", "✅ Close the request"), action("hr_close", request_id)),),
        (Button(t.pgettext("button", "📋 Show the conversation"), action("hr_show", request_id)),),
        (menu_button(t),),
    )


def _names(ctx: Context, request: HelpRequest) -> tuple[str, str]:
    """The offer's title for this reader (the coordinator's own text on their side), and the
    organisation's name."""
    offer = ctx.session.get(Offer, request.offer_id)
    organisation = ctx.session.get(Organisation, request.organisation_id)
    if offer is None:
        title = ""
    elif ctx.user.id == request.user_id:
        title = offer_texts(ctx, offer).title
    else:
        title = offer.title
    return title, organisation.name if organisation else ""


@renders("help_request")
def help_request(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell a coordinator (or an admin) that someone would like to help, how to reach them and
    in which language they write."""
    request = ctx.session.get(HelpRequest, payload.get("request_id") or 0)
    if request is None or request.status != HelpRequestStatus.OPEN:
        return None
    resident = ctx.session.get(User, request.user_id)
    if resident is None:
        return None
    t = ctx.t
    offer, organisation = _names(ctx, request)
    paragraphs = [
        t._(
            "🙋 New request to help with %(offer)s (%(organisation)s): %(name)s would like "
            "to help.",
            offer=offer,
            organisation=organisation,
            name=resident_name(t, request),
        ),
        "\n".join(
            [
                t._("Their language: %(language)s.", language=language_of(t, resident.locale)),
                contact_line(t, request, resident),
            ]
        ),
    ]
    coordinators = coordinators_of(ctx.session, organisation_id=request.organisation_id)
    if all(user.id != ctx.user.id for user in coordinators):
        paragraphs.append(
            t._(
                "%(organisation)s has no coordinator in this bot, so this request comes to you "
                "as an administrator. You can answer it, or invite a coordinator for them.",
                organisation=organisation,
            )
        )
    return [Reply("\n\n".join(paragraphs), buttons=request_buttons(t, request))]


@renders("help_message")
def help_message(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Pass on a message of a request's conversation, naming the language it is written in."""
    message = ctx.session.get(HelpMessage, payload.get("message_id") or 0)
    request = None if message is None else ctx.session.get(HelpRequest, message.request_id)
    if message is None or request is None:
        return None
    t = ctx.t
    offer, organisation = _names(ctx, request)
    author = resident_name(t, request) if message.side == RESIDENT else organisation
    heading = t._(
        "%(name)s writes (in %(language)s) about %(offer)s:",
        name=author,
        language=language_of(t, message.locale),
        offer=offer,
    )
    buttons = request_buttons(t, request) if request.status == HelpRequestStatus.OPEN else ()
    return [Reply(f"{heading}\n\n{t.isolate(message.text)}", buttons=buttons)]


@renders("help_closed")
def help_closed(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell one side that the other closed the request."""
    request = ctx.session.get(HelpRequest, payload.get("request_id") or 0)
    if request is None:
        return None
    t = ctx.t
    offer, organisation = _names(ctx, request)
    if ctx.user.id == request.user_id:
        text = t._(
            "%(organisation)s has closed your request to help with %(offer)s. Thank you for "
            "offering! You can ask again at any time from the offer.",
            organisation=organisation,
            offer=offer,
        )
    else:
        text = t._(
            "%(name)s has closed their request to help with %(offer)s.",
            name=resident_name(t, request),
            offer=offer,
        )
    return [Reply(text)]


@renders("help_reply")
def help_reply(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Pass on an answer queued before requests had conversations (its text is in the row)."""
    request = ctx.session.get(HelpRequest, payload.get("request_id") or 0)
    if request is None or "text" not in payload:
        return None
    offer, organisation = _names(ctx, request)
    heading = ctx.t._(
        "An answer from %(organisation)s about %(offer)s:", organisation=organisation, offer=offer
    )
    return [Reply(f"{heading}\n\n{ctx.t.isolate(str(payload['text']))}")]
