"""The registry that maps action ids, commands and flow steps to the functions that answer them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from db.models import ConversationState

if TYPE_CHECKING:
    from bot.messages import Reply
    from handlers.context import Context

Handler = Callable[..., "list[Reply]"]


@dataclass
class Router:
    actions: dict[str, Handler] = field(default_factory=dict)
    shapes: dict[str, tuple[type, ...]] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    # Commands that take what follows them (/start o_12, /join ABCD2345) to an internal handler.
    argument_commands: dict[str, str] = field(
        default_factory=lambda: {"start": "start_command", "join": "join_command"}
    )
    text_steps: dict[str, Handler] = field(default_factory=dict)
    free_text: dict[str, Callable[[ConversationState], bool]] = field(default_factory=dict)
    # What someone may do before agreeing to the privacy notice.
    before_consent: set[str] = field(default_factory=set)

    def on_action(
        self,
        name: str,
        *shape: type,
        commands: tuple[str, ...] = (),
        internal: bool = False,
        before_consent: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register a handler for action `name` whose arguments have the types in `shape`.

        `commands` are slash commands that open the same screen (only for actions without
        arguments). An `internal` handler is called by the core and can never be pressed.
        """
        if shape and commands:
            raise ValueError("only actions without arguments can be commands")

        def register(handler: Handler) -> Handler:
            if name in self.actions:
                raise ValueError(f"action {name!r} registered twice")
            self.actions[name] = handler
            if not internal:
                self.shapes[name] = shape
            if before_consent:
                self.before_consent.add(name)
            for command in commands:
                self.commands[command] = name
            return handler

        return register

    def on_text(
        self, flow: str, *, free_text: bool | Callable[[ConversationState], bool] = False
    ) -> Callable[[Handler], Handler]:
        """Register the handler for text typed while a user is in `flow`.

        A `free_text` flow gets everything typed but slash commands, numbers and command words
        included (a title, a date, a capacity); otherwise those keep their usual meaning. It may
        be a test of the state, for flows that ask for free text only at some steps.
        """

        def register(handler: Handler) -> Handler:
            self.text_steps[flow] = handler
            if free_text:
                self.free_text[flow] = free_text if callable(free_text) else _always
            return handler

        return register

    def call(self, ctx: Context, name: str, *args: Any) -> list[Reply]:
        """Run a handler; before the user has agreed, only those allowed before consent."""
        if ctx.user.consent_at is None and name not in self.before_consent:
            name, args = "consent_needed", ()
        return self.actions[name](ctx, *args)


def _always(_state: ConversationState) -> bool:
    return True


router = Router()
