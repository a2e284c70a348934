"""An event as a calendar file, in the reader's language, to add to any calendar app."""

from __future__ import annotations

from bot.links import slug, start_payload, telegram_link
from bot.messages import Attachment, Button, Reply
from db.models import Event, ItemStatus, Organisation
from handlers.actions import action
from handlers.content import event_texts
from handlers.context import Context
from handlers.router import router
from handlers.ui import main_menu, menu_button


def calendar_button(ctx: Context, event_id: int) -> Button:
    """Return the button that sends an event as a calendar file."""
    return Button(ctx.t.pgettext("button", "📆 Add to calendar"), action("ics", event_id))


@router.on_action("ics", int)
def calendar_file(ctx: Context, event_id: int) -> list[Reply]:
    """Send an event as a calendar file the user can open to add it to their calendar."""
    # Imported here, not at the top: icalendar (with dateutil) costs about 3 MB of memory at
    # every start, and only this handler needs it (see benchmarks/RESULTS.md, "Start-up").
    from bot.ics import MIME_TYPE, CalendarTexts, event_calendar

    t = ctx.t
    event = ctx.session.get(Event, event_id)
    if event is None or event.status not in (ItemStatus.PUBLISHED, ItemStatus.CANCELLED):
        return [main_menu(ctx, t._("This event is no longer available."))]
    texts = event_texts(ctx, event)
    organisation = ctx.session.get(Organisation, event.organisation_id)
    payload = start_payload("event", event_id)
    link = telegram_link(ctx.settings, payload) if ctx.user.transport == "telegram" else None
    lines = [texts.summary, texts.description]
    if organisation is not None:
        lines.append(t._("Organised by: %(name)s", name=organisation.name))
    if link:
        lines.append(t._("Open it in the chat: %(link)s", link=link))
    else:
        lines.append(
            t._(
                "To see it in the chat again, send “%(command)s” to the bot.",
                command=f"/start {payload}",
            )
        )
    content = event_calendar(
        event,
        CalendarTexts(texts.title, "\n\n".join(filter(None, lines)), link),
        settings=ctx.settings,
        now=ctx.now,
    )
    filename = f"{slug(event.title, fallback=f'event-{event_id}')}.ics"
    text = t._(
        "Here is “%(title)s” as a calendar file. Open it to add the event to your calendar.",
        title=texts.title,
    )
    back = Button(t.pgettext("button", "◀ Back to the event"), action("e", event_id))
    return [
        Reply(
            text,
            buttons=((back,), (menu_button(t),)),
            attachments=(Attachment(filename, content, MIME_TYPE),),
        )
    ]
