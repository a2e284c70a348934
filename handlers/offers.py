"""Volunteer offers: by topic or by district, page by page, and each offer in detail."""

from __future__ import annotations

from bot.messages import Button, Reply
from db.models import Category, District, ItemStatus, Offer, Organisation, SubscriptionKind
from db.queries import (
    Page,
    categories_with_offers,
    districts_with_offers,
    offer_titles,
    offers_without_district,
    published_offers,
)
from handlers.actions import action
from handlers.content import offer_texts, originals_note, untranslated_note
from handlers.context import Context
from handlers.events import visible
from handlers.router import router
from handlers.subscriptions import find_subscription, follow_button
from handlers.ui import (
    main_menu,
    menu_button,
    name_in,
    pager_row,
    place_of,
    topic_buttons,
    where_text,
    with_page_line,
)

PAGE_SIZE = 5
CITYWIDE = 0  # the "district" of offers that name none: no database id is 0


@router.on_action("offers", commands=("offers",))
def browse_offers(ctx: Context) -> list[Reply]:
    """Ask whether to browse offers by topic or by district."""
    t = ctx.t
    return [
        Reply(
            t._("How would you like to look for volunteer offers?"),
            buttons=(
                (Button(t.pgettext("button", "🏷 By topic"), action("ocats")),),
                (Button(t.pgettext("button", "📍 By district"), action("odists")),),
                (menu_button(t),),
            ),
            replace=True,
        )
    ]


@router.on_action("ocats")
def offer_topics(ctx: Context) -> list[Reply]:
    """List the topics that have offers, with how many each has."""
    t = ctx.t
    rows = topic_buttons(t, categories_with_offers(ctx.session), "oc")
    rows.append((Button(t.pgettext("button", "◀ Back"), action("offers")), menu_button(t)))
    return [Reply(t._("Choose a topic:"), buttons=tuple(rows), replace=True)]


@router.on_action("odists")
def offer_districts(ctx: Context) -> list[Reply]:
    """List the districts that have offers, with how many each has."""
    t = ctx.t
    rows = [
        (
            Button(
                t.pgettext(
                    "district button",
                    "%(district)s (%(count)s)",
                    district=name_in(district.names, t.locale, district.slug),
                    count=t.number(count),
                ),
                action("od", district.id or 0, 0),
            ),
        )
        for district, count in districts_with_offers(ctx.session)
        if count
    ]
    if elsewhere := offers_without_district(ctx.session):
        # Offers by phone, online or all over the city belong to no district, and are not lost.
        label = t.pgettext(
            "district button",
            "🌐 Citywide / online (%(count)s)",
            count=t.number(elsewhere),
        )
        rows.append((Button(label, action("od", CITYWIDE, 0)),))
    rows.append((Button(t.pgettext("button", "◀ Back"), action("offers")), menu_button(t)))
    return [Reply(t._("Choose a district:"), buttons=tuple(rows), replace=True)]


@router.on_action("oc", int, int)
def offers_in_topic(ctx: Context, category_id: int, page: int) -> list[Reply]:
    """Show one page of the offers of a topic."""
    category = ctx.session.get(Category, category_id)
    if category is None:
        return router.call(ctx, "stale")
    found = published_offers(ctx.session, category_id=category_id, page=page, size=PAGE_SIZE)
    heading = ctx.t.ngettext(
        "%(count)s volunteer offer in the topic %(topic)s.",
        "%(count)s volunteer offers in the topic %(topic)s.",
        found.total,
        topic=name_in(category.names, ctx.t.locale, category.slug),
    )
    back = Button(ctx.t.pgettext("button", "◀ Topics"), action("ocats"))
    follow = follow_button(ctx, SubscriptionKind.CATEGORY, category_id)
    return [_offer_list(ctx, heading, found, ("oc", category_id), back, follow)]


@router.on_action("od", int, int)
def offers_in_district(ctx: Context, district_id: int, page: int) -> list[Reply]:
    """Show one page of the offers in a district, or of those that name none."""
    back = Button(ctx.t.pgettext("button", "◀ Districts"), action("odists"))
    if district_id == CITYWIDE:
        found = published_offers(ctx.session, without_district=True, page=page, size=PAGE_SIZE)
        heading = ctx.t.ngettext(
            "%(count)s volunteer offer citywide or online.",
            "%(count)s volunteer offers citywide or online.",
            found.total,
        )
        return [_offer_list(ctx, heading, found, ("od", CITYWIDE), back, None)]
    district = ctx.session.get(District, district_id)
    if district is None:
        return router.call(ctx, "stale")
    found = published_offers(ctx.session, district_id=district_id, page=page, size=PAGE_SIZE)
    heading = ctx.t.ngettext(
        "%(count)s volunteer offer in %(district)s.",
        "%(count)s volunteer offers in %(district)s.",
        found.total,
        district=name_in(district.names, ctx.t.locale, district.slug),
    )
    follow = follow_button(ctx, SubscriptionKind.DISTRICT, district_id)
    return [_offer_list(ctx, heading, found, ("od", district_id), back, follow)]


def _offer_list(
    ctx: Context,
    heading: str,
    found: Page[Offer],
    pager: tuple[str, int],
    back: Button,
    follow: Button | None,
) -> Reply:
    t = ctx.t
    if not found.items:
        return Reply(t._("There are no offers here yet."), buttons=((back, menu_button(t)),))
    titles = offer_titles(
        ctx.session, offer_ids=[o.id for o in found.items if o.id], locale=t.locale
    )
    rows: list[tuple[Button, ...]] = [
        (Button(titles.get(offer.id or 0, offer.title), action("o", offer.id or 0)),)
        for offer in found.items
    ]
    if follow is not None:
        rows.append((follow,))
    rows.append((back, menu_button(t)))
    if nav := pager_row(t, found, *pager):
        rows.append(nav)  # last, so "previous" and "next" keep their numbers (handlers/ui.py)
    text = with_page_line(t, heading, found)
    if note := originals_note(ctx, (o.locale for o in found.items if o.id not in titles)):
        text = f"{text}\n{note}"
    return Reply(text, buttons=tuple(rows), replace=True)


@router.on_action("o", int)
def offer_detail(ctx: Context, offer_id: int) -> list[Reply]:
    """Show one offer: who, what you do, when, where, and whom to contact."""
    t = ctx.t
    offer = ctx.session.get(Offer, offer_id)
    if offer is None or offer.status == ItemStatus.CANCELLED or not visible(ctx, offer):
        return [main_menu(ctx, t._("This offer is no longer available."))]
    organisation = ctx.session.get(Organisation, offer.organisation_id)
    texts = offer_texts(ctx, offer)
    lines = [f"🤝 {t.isolate(texts.title)}"]
    if organisation:
        lines.append(t._("Organisation: %(name)s", name=organisation.name))
    if note := untranslated_note(ctx, texts):
        lines.append(note)
    if texts.summary:
        lines.append(t._("What you do: %(summary)s", summary=texts.summary))
    if texts.description:
        lines.append(t.isolate(texts.description))
    if texts.schedule:
        lines.append(t._("When: %(schedule)s", schedule=texts.schedule))
    if texts.requirements:
        lines.append(t._("What you need: %(requirements)s", requirements=texts.requirements))
    place = place_of(offer)
    if place is not None:
        lines.append(t._("Where: %(place)s", place=where_text(offer)))
    if texts.contact:
        lines.append(t._("Contact: %(contact)s", contact=texts.contact))
    back = Button(t.pgettext("button", "◀ Back to the list"), action("oc", offer.category_id, 0))
    rows: list[tuple[Button, ...]] = []
    if offer.status == ItemStatus.PUBLISHED:
        help_label = t.pgettext("button", "🙋 I'd like to help")
        rows.append((Button(help_label, action("hr_ask", offer.id or 0)),))
    if organisation is not None and organisation.id is not None:
        following = find_subscription(ctx, SubscriptionKind.ORGANISATION, organisation.id)
        if following is None:
            label = t.pgettext("button", "🔔 Follow %(name)s", name=organisation.name)
            rows.append((Button(label, action("fol", "g", organisation.id)),))
    rows.extend([(back,), (menu_button(t),)])
    return [Reply("\n\n".join(lines), buttons=tuple(rows), place=place)]
