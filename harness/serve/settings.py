"""The warm server's options (``HARNESS_SERVE``, ``HARNESS_SERVE_SOCKET``, ``HARNESS_SERVE_IDLE``):
defined here once, with defaults and docs, read like the core's
(:class:`harness.settings.OptionSettings`). Light to import: ``harness t`` reads them before
anything else to decide whether a server runs its blocks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from harness.settings import Option, OptionSettings

ServeMode = Literal["auto", "off"]

OPTIONS: tuple[Option, ...] = (
    Option("serve", "HARNESS_SERVE", "", "auto",
           "`harness t` (and pytest given only `.t` files) hands its run to a running `harness serve` of the same "
           "install (auto: its containers are warm, the run's output and reports are the same) or always runs in "
           "a process of its own (off)",
           ("auto", "off")),
    Option("serve_socket", "HARNESS_SERVE_SOCKET", "harness serve --socket", "",
           "the unix socket `harness serve` listens on and `harness t` looks for; empty: one per user and "
           "install, in $XDG_RUNTIME_DIR/openresty-harness (else /tmp/openresty-harness-UID)"),
    Option("serve_idle", "HARNESS_SERVE_IDLE", "harness serve --idle", "1800",
           "seconds `harness serve` waits for a run before it stops and removes its containers"),
)

OPTION: dict[str, Option] = {opt.name: opt for opt in OPTIONS}  # by name, for `harness serve`'s help


@dataclass(frozen=True)
class ServeSettings(OptionSettings):
    """Resolved serve options. Build with :meth:`from_sources` (the defaults are the options')."""

    OPTIONS: ClassVar[tuple[Option, ...]] = OPTIONS

    serve: str
    serve_socket: str
    serve_idle: float

    @property
    def hands_over(self) -> bool:
        """Whether ``harness t`` looks for a running server (``HARNESS_SERVE=auto``)."""
        return self.serve == "auto"
