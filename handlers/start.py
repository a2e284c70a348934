"""First contact: the language, the privacy notice to agree to (or leave), and deep links.

Until someone agrees, nothing but their messenger id and where they are in this conversation
is stored: the language they pick waits in the conversation state, and their messenger's
language hint is only used, not kept.
"""

from __future__ import annotations

import re

from bot.i18n import language_name
from bot.messages import Button, Reply
from handlers.actions import action
from handlers.context import Context
from handlers.router import router
from handlers.ui import language_picker, main_menu

ONBOARDING = "onboarding"
# Deep-link payloads: o_12 opens offer 12, e_7 opens event 7 (Telegram allows A-Za-z0-9_-).
_PAYLOAD = re.compile(r"^([oe])_([1-9][0-9]{0,8})$")
# A coordinator invitation link carries its code: c_ABCD2345 (see handlers.admin).
INVITATION_PREFIX = "c_"
MAX_CODE_CHARS = 32


def payload_action(payload: str) -> str | None:
    """Turn a deep-link payload into the action it opens, or None if it is not one of ours."""
    match = _PAYLOAD.match(payload.strip())
    if not match:
        return None
    return action(match.group(1), int(match.group(2)))


def notice_paragraphs(ctx: Context) -> list[str]:
    """Who runs the bot, what it stores and why, for how long, the rights, the messenger."""
    t = ctx.t
    settings = ctx.settings
    return [
        t._("%(operator)s runs this bot.", operator=settings.operator_name),
        t._(
            "I store your messenger ID, the language you chose, what you follow and the events "
            "you plan to attend. I need this to answer you and to send you the reminders you "
            "asked for."
        ),
        t._(
            "I do not keep the texts of your messages. Your name and contact are passed on only "
            "if you agree to be contacted by an organisation."
        ),
        t._(
            "If you do not use the bot for %(months)s months, your data is deleted.",
            months=t.number(round(settings.retention_inactive_days / 30.4)),
        ),
        t._(
            "You can get a copy of your data with /mydata and delete it with /delete at any "
            "time, or write to %(contact)s.",
            contact=settings.privacy_contact,
        ),
        t._(
            "The messenger you use also processes data about your messages, under its own "
            "privacy policy."
        ),
    ]


def consent_screen(ctx: Context, intro: str | None = None) -> Reply:
    t = ctx.t
    paragraphs = [intro] if intro else []
    paragraphs += [*notice_paragraphs(ctx), t._("Do you agree?")]
    return Reply(
        "\n\n".join(paragraphs),
        buttons=(
            (Button(t.pgettext("button", "✅ I agree"), action("agree")),),
            (Button(t.pgettext("button", "🌐 Another language"), action("lang")),),
            (Button(t.pgettext("button", "✖ No, thanks"), action("decline")),),
        ),
    )


@router.on_action("start_command", str, internal=True, before_consent=True)
def start(ctx: Context, payload: str) -> list[Reply]:
    """Greet the user; a new user first picks a language and agrees, a deep link opens its item."""
    kept = ctx.flow_data.get("invitation") if ctx.state.flow == ONBOARDING else None
    ctx.end_flow()
    target = payload_action(payload) if payload else None
    if ctx.user.consent_at is None:
        invitation = kept
        if payload.startswith(INVITATION_PREFIX):
            invitation = payload[len(INVITATION_PREFIX) :][:MAX_CODE_CHARS] or kept
        extra = {"invitation": invitation} if invitation else {}
        ctx.start_flow(ONBOARDING, "language", pending=target, **extra)
        welcome = ctx.t._(
            "Welcome! I help you find volunteer offers and events in your city, in your language."
        )
        return [language_picker(ctx, welcome + "\n\n" + ctx.t._("Choose your language:"))]
    # /start is also how a paused user says "write to me again"; they are told it worked.
    on_again = ctx.t._("Messages from the bot are on again.") if ctx.user.paused else None
    ctx.user.paused = False
    told = [Reply(on_again)] if on_again else []
    if payload.startswith(INVITATION_PREFIX):
        # a coordinator invitation link
        return [*told, *router.call(ctx, "join_command", payload[len(INVITATION_PREFIX) :])]
    if target:
        return [*told, *router.call(ctx, *_split(target))]
    welcome = ctx.t._("Welcome back! What would you like to do?")
    if on_again:
        welcome = f"{on_again}\n\n{welcome}"
    return [main_menu(ctx, welcome)]


def onboarding_language(ctx: Context, code: str) -> list[Reply]:
    """Show the privacy notice in the language just picked; nothing is stored yet."""
    ctx.t = ctx.translations.get(code)
    if ctx.state.flow != ONBOARDING:
        ctx.start_flow(ONBOARDING)
    ctx.save_flow({**ctx.flow_data, "locale": code}, "consent")
    return [consent_screen(ctx)]


@router.on_action("agree", before_consent=True)
def agree(ctx: Context) -> list[Reply]:
    """Record the consent and the language, then carry on where the user wanted to go."""
    if ctx.user.consent_at is not None:
        return [main_menu(ctx)]
    ctx.user.consent_at = ctx.now
    ctx.user.language_hint = (ctx.incoming.locale_hint or "")[:16] or None
    locale = ctx.flow_data.get("locale") or ctx.t.locale
    ctx.switch_locale(locale)
    confirmation = ctx.t._("I will write to you in %(language)s.", language=language_name(locale))
    follow_up = continue_after_onboarding(ctx)
    if follow_up:
        return [Reply(confirmation), *follow_up]
    return [main_menu(ctx, confirmation)]


@router.on_action("decline", before_consent=True)
def decline(ctx: Context) -> list[Reply]:
    """Forget the user entirely: only before they agreed (an old button must not erase anyone)."""
    from db.privacy import erase_user

    if ctx.user.consent_at is not None:
        return router.call(ctx, "stale")
    text = ctx.t._(
        "All right. I have not kept anything about you. If you change your mind, send /start."
    )
    # Their state goes with them (ON DELETE CASCADE); `user_deleted` keeps it from being
    # written back.
    erase_user(ctx.session, user=ctx.user)
    ctx.user_deleted = True
    return [Reply(text)]


@router.on_action("consent_needed", internal=True, before_consent=True)
def consent_needed(ctx: Context) -> list[Reply]:
    """Answer anything else a user sends before agreeing: the step they are at, again."""
    if ctx.state.flow == ONBOARDING and ctx.state.step == "consent":
        return [consent_screen(ctx, ctx.t._("Please read this first and tell me if you agree."))]
    if ctx.state.flow != ONBOARDING:
        ctx.start_flow(ONBOARDING, "language")
    return [language_picker(ctx, ctx.t._("Please choose your language first:"))]


def keep_invitation(ctx: Context, code: str) -> list[Reply]:
    """Keep an invitation sent before agreeing, to redeem it once the user has agreed."""
    t = ctx.t
    if ctx.state.flow != ONBOARDING:
        ctx.start_flow(ONBOARDING, "language")
    ctx.save_flow({**ctx.flow_data, "invitation": code[:MAX_CODE_CHARS]}, ctx.state.step)
    intro = t._(
        "Thank you for your invitation code. I will redeem it as soon as you have chosen your "
        "language and agreed to the privacy notice."
    )
    if ctx.state.step == "consent":
        return [consent_screen(ctx, intro)]
    return [language_picker(ctx, intro + "\n\n" + t._("Choose your language:"))]


def continue_after_onboarding(ctx: Context) -> list[Reply] | None:
    """After agreeing, redeem a kept invitation or open the deep-linked item, if there was one."""
    if ctx.state.flow != ONBOARDING:
        return None
    pending = ctx.flow_data.get("pending")
    invitation = ctx.flow_data.get("invitation")
    ctx.end_flow()
    if isinstance(invitation, str) and invitation:
        return router.call(ctx, "join_command", invitation)
    if isinstance(pending, str) and _PAYLOAD.match(pending.replace(":", "_")):
        return router.call(ctx, *_split(pending))
    return None


def _split(action_id: str) -> tuple[str, int]:
    name, _, number = action_id.partition(":")
    return name, int(number)


@router.on_text(ONBOARDING)
def onboarding_text(ctx: Context, _text: str) -> list[Reply]:
    """Ask again for the current step when a new user types instead of choosing."""
    return consent_needed(ctx)
