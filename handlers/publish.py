"""Publishing an offer or event in a guided conversation: for which organisation, then one
question per field (handlers/item_fields.py), each with a way back; a preview exactly as residents
will see it, with places and length, from which any field can be changed; then a final screen
with what was published, how residents open it, and what to do next.

A draft untouched for a day is abandoned: the nightly retention deletes the one saved at the
preview, and a conversation picked up after that says so and starts nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.links import start_payload, telegram_link
from bot.messages import Button, Reply
from db.models import ConversationState, Event, ItemStatus, Offer
from db.privacy import RetentionPolicy
from db.roles import audit
from handlers.actions import action
from handlers.context import Context
from handlers.coordinator import not_allowed, toolbox
from handlers.item_fields import (
    CHOICES,
    OPTIONAL,
    TEXT_FIELDS,
    choice_buttons,
    field_buttons,
    fields_of,
    hours_text,
    pressed_number,
    question,
    read,
    reindex,
    shown_value,
    steps_of,
    valid_choice,
)
from handlers.roles import acts_for, organisations
from handlers.router import router
from handlers.translations import translations_button
from handlers.ui import main_menu, menu_button

PUBLISH = "publish"
KEEP_DRAFTS: timedelta = RetentionPolicy.keep_drafts


def _stop_button(ctx: Context) -> Button:
    return Button(ctx.t.pgettext("button", "✖ Stop"), action("pub_stop"))


def _back_button(ctx: Context) -> Button:
    return Button(ctx.t.pgettext("button", "◀ Back"), action("pub_back"))


def _save(ctx: Context, draft: dict[str, Any], step: str | None) -> None:
    """Store the draft and the step it waits at, and when it was last touched."""
    ctx.save_flow({**draft, "touched": ctx.now.isoformat()}, step)


def _in_flow(ctx: Context) -> bool:
    return ctx.state.flow == PUBLISH


def _expired(ctx: Context) -> list[Reply] | None:
    """Say so and end the flow when the draft was left for longer than drafts are kept."""
    touched = ctx.flow_data.get("touched")
    if touched and ctx.now - datetime.fromisoformat(touched) > KEEP_DRAFTS:
        _delete_draft(ctx)
        return _draft_gone(ctx)
    return None


@router.on_action("pub_new", str)
def start_publishing(ctx: Context, kind: str) -> list[Reply]:
    """Begin a new offer or event: first for which organisation."""
    if kind not in ("offer", "event"):
        return router.call(ctx, "stale")
    mine = organisations(ctx)
    if not mine:
        return not_allowed(ctx)
    ctx.start_flow(PUBLISH, "organisation", kind=kind, touched=ctx.now.isoformat())
    if len(mine) == 1:
        return choose_organisation(ctx, mine[0].id or 0)
    return _ask_organisation(ctx)


def _ask_organisation(ctx: Context) -> list[Reply]:
    rows = tuple((Button(o.name, action("pub_org", o.id or 0)),) for o in organisations(ctx))
    nav = (_back_button(ctx), _stop_button(ctx))
    return [Reply(ctx.t._("For which organisation?"), buttons=(*rows, nav))]


@router.on_action("pub_org", int)
def choose_organisation(ctx: Context, organisation_id: int) -> list[Reply]:
    """Remember the organisation and ask for the topic (or go back to the preview)."""
    if not _in_flow(ctx) or ctx.state.step != "organisation":
        return router.call(ctx, "stale")
    if not acts_for(ctx, organisation_id):
        return not_allowed(ctx)
    if gone := _expired(ctx):
        return gone
    draft = {**ctx.flow_data, "organisation_id": organisation_id}
    if draft.pop("fixing", False):
        _save(ctx, draft, "preview")
        return _preview(ctx)
    _save(ctx, draft, "category")
    return _ask(ctx, "category")


@router.on_action("pub_pick", str, int)
def pick(ctx: Context, field: str, value: int) -> list[Reply]:
    """Take a choice from buttons (topic or district; 0 means no district)."""
    if not _in_flow(ctx) or field not in CHOICES or ctx.state.step != field:
        return router.call(ctx, "stale")
    if not valid_choice(ctx, field, value):
        return router.call(ctx, "stale")
    if gone := _expired(ctx):
        return gone
    return _advance(ctx, field, value or None)


@router.on_action("pub_skip")
def skip(ctx: Context) -> list[Reply]:
    """Leave out an optional answer."""
    step = ctx.state.step or ""
    if not _in_flow(ctx) or step not in OPTIONAL or step in CHOICES:
        return router.call(ctx, "stale")
    if gone := _expired(ctx):
        return gone
    return _advance(ctx, step, None)


@router.on_action("pub_keep")
def keep(ctx: Context) -> list[Reply]:
    """Keep the answer given before (after going back, or when changing from the preview)."""
    step = ctx.state.step or ""
    if not _in_flow(ctx) or step not in TEXT_FIELDS | CHOICES or step not in ctx.flow_data:
        return router.call(ctx, "stale")
    if gone := _expired(ctx):
        return gone
    return _advance(ctx, step, ctx.flow_data[step])


@router.on_action("pub_back")
def back(ctx: Context) -> list[Reply]:
    """Go back one step: to the question before, from the preview to the last question, from a
    change to the preview, and from the first question to the coordinator tools."""
    if not _in_flow(ctx):
        return router.call(ctx, "stale")
    if gone := _expired(ctx):
        return gone
    draft = dict(ctx.flow_data)
    step = ctx.state.step or ""
    steps = steps_of(draft.get("kind", ""))
    if draft.pop("fixing", False) or step == "fixes":
        _save(ctx, draft, "preview")
        return _show_preview(ctx)
    if step == "preview":
        _save(ctx, draft, steps[-1])
        return _ask(ctx, steps[-1])
    if step in steps and steps.index(step) > 0:
        before = steps[steps.index(step) - 1]
        _save(ctx, draft, before)
        return _ask(ctx, before)
    if step == steps[0] and len(organisations(ctx)) > 1:
        _save(ctx, draft, "organisation")
        return _ask_organisation(ctx)
    _delete_draft(ctx)
    return toolbox(ctx)


@router.on_action("pub_stop")
def stop_publishing(ctx: Context) -> list[Reply]:
    """Throw the draft away."""
    if _in_flow(ctx):
        _delete_draft(ctx)
    ctx.end_flow()
    return [main_menu(ctx, ctx.t._("Nothing was published."))]


def _delete_draft(ctx: Context) -> None:
    item = _saved_draft(ctx)
    if item is not None:
        ctx.session.delete(item)


def _wants_text(state: ConversationState) -> bool:
    return state.step in TEXT_FIELDS


@router.on_text(PUBLISH, free_text=_wants_text)
def publishing_text(ctx: Context, text: str) -> list[Reply]:
    """Take the typed answer to the current question, or ask again when it cannot be read."""
    if gone := _expired(ctx):
        return gone
    step = ctx.state.step or ""
    if step in TEXT_FIELDS:
        if (pressed := pressed_number(ctx, step, text)) is not None:
            return pressed
        value, problem = read(ctx, step, text)
        if problem:
            return [Reply(problem), *_ask(ctx, step)]
        return _advance(ctx, step, value)
    # A button question (organisation, topic, district, the preview) answered by typing: say
    # so and show the same step again; the draft stays as it is.
    again = Reply(ctx.t._("Please choose one of the buttons."))
    if step == "preview":
        return [again, *_show_preview(ctx)] if _saved_draft(ctx) else _draft_gone(ctx)
    if step == "fixes":
        return [again, *_fixes(ctx)]
    if step in CHOICES:
        return [again, *_ask(ctx, step)]
    if step == "organisation":
        return [again, *_ask_organisation(ctx)]
    # A step this version no longer has (a conversation begun before an upgrade).
    ctx.end_flow()
    return toolbox(ctx)


def _advance(ctx: Context, step: str, value: Any) -> list[Reply]:
    draft = {**ctx.flow_data, step: value}
    steps = steps_of(draft.get("kind", ""))
    if draft.pop("fixing", False):
        _save(ctx, draft, "preview")
        return _preview(ctx)
    index = steps.index(step) + 1
    following = steps[index] if index < len(steps) else None
    _save(ctx, draft, following or "preview")
    if following is None:
        return _preview(ctx)
    return _ask(ctx, following)


def _ask(ctx: Context, step: str) -> list[Reply]:
    """Ask the question of a step, with the answer given so far and the buttons it offers."""
    t = ctx.t
    text = question(t, step)
    now = shown_value(ctx, step, ctx.flow_data.get(step))
    if now:
        text = text + "\n" + t._("Now: %(value)s", value=now)
    rows: list[tuple[Button, ...]] = []
    if step in CHOICES:
        rows += choice_buttons(ctx, step, lambda value: action("pub_pick", step, value))
    if now:
        rows.append((Button(t.pgettext("button", "✅ Keep this"), action("pub_keep")),))
    if step in OPTIONAL and step not in CHOICES:
        rows.append((Button(t.pgettext("button", "⏭ Skip"), action("pub_skip")),))
    rows.append((_back_button(ctx), _stop_button(ctx)))
    return [Reply(text, buttons=tuple(rows))]


def _preview(ctx: Context) -> list[Reply]:
    """Save the draft (a new one, or the one saved before) and show it as residents will."""
    draft = ctx.flow_data
    if not acts_for(ctx, draft.get("organisation_id", 0)):
        return not_allowed(ctx)
    fields: dict[str, Any] = {
        "organisation_id": draft["organisation_id"],
        "category_id": draft["category"],
        "district_id": draft.get("district"),
        "title": draft["title"],
        "summary": draft.get("summary") or "",
        "description": draft.get("description") or "",
        "place_name": draft.get("place") or "",
        "address": draft.get("address") or "",
        "updated_at": ctx.now,
    }
    if draft["kind"] == "offer":
        fields |= {name: draft.get(name) or "" for name in ("schedule", "requirements", "contact")}
    else:
        starts = datetime.fromisoformat(draft["when"])
        hours = draft.get("duration")
        fields |= {
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=hours) if hours else None,
            "capacity": draft.get("capacity"),
        }
    item = _saved_draft(ctx)
    if draft.get("draft_id") and item is None:
        return _draft_gone(ctx)  # deleted by the nightly clean-up meanwhile
    if item is None:
        model = Offer if draft["kind"] == "offer" else Event
        # Written in the coordinator's chat language: readers of others get a note naming it.
        item = model(**fields, locale=ctx.t.locale, status=ItemStatus.DRAFT, created_at=ctx.now)
        ctx.session.add(item)
    else:
        for name, value in fields.items():
            setattr(item, name, value)
    ctx.session.flush()
    _save(ctx, {**draft, "draft_id": item.id}, "preview")
    return _show_preview(ctx)


def _show_preview(ctx: Context) -> list[Reply]:
    """Show the saved draft as residents will see it, its places and length, and what next."""
    from handlers.events import event_detail
    from handlers.offers import offer_detail

    t = ctx.t
    item = _saved_draft(ctx)
    if item is None:
        return _draft_gone(ctx)
    detail = offer_detail if isinstance(item, Offer) else event_detail
    card = detail(ctx, item.id or 0)[-1]
    lines = [t._("This is how residents will see it.")]
    if isinstance(item, Event):
        if item.capacity is None:
            lines.append(t._("Places: no limit."))
        else:
            lines.append(t._("Places: %(count)s.", count=t.number(item.capacity)))
        if item.ends_at is None:
            lines.append(t._("Length: not given."))
        else:
            hours = (item.ends_at - item.starts_at).total_seconds() / 3600
            lines.append(t._("Length: %(length)s.", length=hours_text(t, hours)))
    lines.append(t._("Publish it now?"))
    confirm = Reply(
        "\n".join(lines),
        buttons=(
            (Button(t.pgettext("button", "✅ Publish"), action("pub_ok")),),
            (Button(t.pgettext("button", "✏️ Change something"), action("pub_fixes")),),
            (_back_button(ctx), _stop_button(ctx)),
        ),
    )
    return [Reply(card.text, place=card.place), confirm]


@router.on_action("pub_fixes")
def fixes(ctx: Context) -> list[Reply]:
    """From the preview: which field to change."""
    if not _in_flow(ctx) or ctx.state.step not in ("preview", "fixes"):
        return router.call(ctx, "stale")
    if gone := _expired(ctx):
        return gone
    if _saved_draft(ctx) is None:
        return _draft_gone(ctx)
    _save(ctx, ctx.flow_data, "fixes")
    return _fixes(ctx)


def _fixes(ctx: Context) -> list[Reply]:
    t = ctx.t
    rows = field_buttons(t, ctx.flow_data.get("kind", ""), lambda f: action("pub_fix", f))
    if len(organisations(ctx)) > 1:
        label = t.pgettext("button", "✏️ Organisation")
        rows.append((Button(label, action("pub_fix", "organisation")),))
    rows.append((_back_button(ctx),))
    return [Reply(t._("What would you like to change?"), buttons=tuple(rows))]


@router.on_action("pub_fix", str)
def fix(ctx: Context, field: str) -> list[Reply]:
    """Ask one field again; the answer goes back to the preview."""
    kind = ctx.flow_data.get("kind", "")
    fixable = (*fields_of(kind), "organisation")
    # From the preview too: the list of fields shown before it stays pressable.
    if not _in_flow(ctx) or ctx.state.step not in ("fixes", "preview") or field not in fixable:
        return router.call(ctx, "stale")
    if gone := _expired(ctx):
        return gone
    _save(ctx, {**ctx.flow_data, "fixing": True}, field)
    return _ask_organisation(ctx) if field == "organisation" else _ask(ctx, field)


@router.on_action("pub_ok")
def publish(ctx: Context) -> list[Reply]:
    """Publish the previewed draft and say what residents see and what to do next."""
    if not _in_flow(ctx) or ctx.state.step != "preview":
        return router.call(ctx, "stale")
    if gone := _expired(ctx):
        return gone
    item = _saved_draft(ctx)
    if item is None:
        return _draft_gone(ctx)
    if not acts_for(ctx, item.organisation_id):
        return not_allowed(ctx)
    if isinstance(item, Event) and item.starts_at <= ctx.now:
        _save(ctx, {**ctx.flow_data, "fixing": True}, "when")
        past = Reply(ctx.t._("That time is in the past. Please give a time in the future."))
        return [past, *_ask(ctx, "when")]
    kind = "o" if isinstance(item, Offer) else "e"
    item.status = ItemStatus.PUBLISHED
    item.published_at = ctx.now
    item.updated_at = ctx.now
    reindex(ctx, kind, item.id or 0)
    audit(
        ctx.session,
        actor=ctx.user,
        action=f"{ctx.flow_data['kind']}_published",
        detail={"id": item.id, "organisation_id": item.organisation_id},
        now=ctx.now,
    )
    ctx.end_flow()
    return _published(ctx, item, kind)


def _published(ctx: Context, item: Offer | Event, kind: str) -> list[Reply]:
    """The final screen: what was published, how residents open it, and where to go next."""
    t = ctx.t
    payload = start_payload(kind, item.id or 0)
    link = telegram_link(ctx.settings, payload)
    command = f"/start {payload}"
    lines = [
        t._(
            "Published: %(title)s. Followers of its topic, district and "
            "organisation will hear about it.",
            title=item.title,
        ),
        t._("Anyone can open it with this link: %(link)s", link=link)
        if link
        else t._("Anyone can open it by sending %(command)s to the bot.", command=command),
        t._(
            "What next? Announce it, add translations for residents of other languages, "
            "or publish another."
        ),
    ]
    again = "offer" if kind == "o" else "event"
    rows = (
        (Button(t.pgettext("button", "📣 Announce it"), action("bc_new")),),
        (translations_button(ctx, kind, item.id or 0),),
        (Button(t.pgettext("button", "➕ Publish another"), action("pub_new", again)),),
        (Button(t.pgettext("button", "📋 Manage it"), action("item", kind, item.id or 0)),),
        (Button(t.pgettext("button", "🧰 Coordinator tools"), action("coord")), menu_button(t)),
    )
    return [Reply("\n\n".join(lines), buttons=rows)]


def _saved_draft(ctx: Context) -> Offer | Event | None:
    """The draft saved at the preview, unless it was published or deleted since."""
    draft = ctx.flow_data
    model = Offer if draft.get("kind") == "offer" else Event
    item = ctx.session.get(model, draft.get("draft_id") or 0)
    return item if item is not None and item.status == ItemStatus.DRAFT else None


def _draft_gone(ctx: Context) -> list[Reply]:
    """Say that a draft left for a day was deleted (by the nightly clean-up)."""
    ctx.end_flow()
    text = ctx.t._(
        "This draft was deleted because it was left unfinished for a day. Nothing was "
        "published; please start again."
    )
    return [main_menu(ctx, text)]
