"""Finding or creating the audience (and its customer list) a step writes to.

Rules:
- Look before creating, always: a new audience's name is first searched among the ad
  account's audiences (following ``bookmark`` pages), then its list among the customer lists,
  and only then created. So a name is never created twice, also across restarts.
- A create whose fate is unknown (5xx, timeout, connection failure) goes back to the search,
  never straight to a second create: that is what makes a retried create idempotent. A create
  answered 429 was not executed, so it is simply sent again.
- An existing audience is found by name; its ``rule.customer_list_id`` is the list to write.
- Transitions are the table ``_NEXT_ON_UNKNOWN_FATE``; successes are handled per stage.
"""

from __future__ import annotations

import enum

from sync_core import wire
from sync_core.errors import PeerError

__all__ = ["Provisioner", "Stage"]


class Stage(enum.Enum):
    FIND_AUDIENCE = "find_audience"
    FIND_LIST = "find_list"
    CREATE_LIST = "create_list"
    CREATE_AUDIENCE = "create_audience"
    READY = "ready"
    NOT_FOUND = "not_found"  # an existing audience that does not exist (yet)


# Where a stage restarts when its request may or may not have taken effect.
_NEXT_ON_UNKNOWN_FATE = {
    Stage.CREATE_LIST: Stage.FIND_LIST,
    Stage.CREATE_AUDIENCE: Stage.FIND_AUDIENCE,
    Stage.NOT_FOUND: Stage.FIND_AUDIENCE,
}


class Provisioner:
    """The state of one target's provisioning; the engine sends what ``request`` builds."""

    __slots__ = ("_bookmark", "ad_account_id", "is_new", "list_id", "list_type", "name", "stage")

    def __init__(self, *, ad_account_id: str, name: str, is_new: bool, list_type: str) -> None:
        self.ad_account_id = ad_account_id
        self.name = name
        self.is_new = is_new
        self.list_type = list_type
        self.stage = Stage.FIND_AUDIENCE
        self.list_id: str | None = None
        self._bookmark: str | None = None

    @property
    def ready(self) -> bool:
        return self.stage is Stage.READY

    def request(self, token: str, page_size: int) -> wire.WireRequest:
        account, stage = self.ad_account_id, self.stage
        if stage is Stage.FIND_AUDIENCE or stage is Stage.NOT_FOUND:
            self.stage = Stage.FIND_AUDIENCE
            return wire.list_audiences(token, account, page_size, self._bookmark)
        if stage is Stage.FIND_LIST:
            return wire.list_customer_lists(token, account, page_size, self._bookmark)
        if stage is Stage.CREATE_LIST:
            return wire.create_customer_list(token, account, self.name, self.list_type)
        if stage is Stage.CREATE_AUDIENCE and self.list_id is not None:
            return wire.create_audience(token, account, self.name, self.list_id)
        raise AssertionError(f"no request to send in stage {stage.value}")

    def on_success(self, body: bytes) -> None:
        """Advance on a 2xx answer; raises ``PeerError`` on a malformed body."""
        if self.stage is Stage.FIND_AUDIENCE:
            self._on_audience_page(wire.parse_page(body))
        elif self.stage is Stage.FIND_LIST:
            self._on_list_page(wire.parse_page(body))
        elif self.stage is Stage.CREATE_LIST:
            self.list_id = wire.parse_created_id(body)
            self.stage = Stage.CREATE_AUDIENCE
        elif self.stage is Stage.CREATE_AUDIENCE:
            wire.parse_created_id(body)
            self.stage = Stage.READY
        else:
            raise PeerError(f"unexpected answer in provisioning stage {self.stage.value}")

    def on_unknown_fate(self) -> None:
        """The last request may or may not have happened: re-check before acting again."""
        if self.stage in _NEXT_ON_UNKNOWN_FATE:
            self.stage = _NEXT_ON_UNKNOWN_FATE[self.stage]
            self._bookmark = None

    def _on_audience_page(self, page: wire.Page) -> None:
        match = next((a for a in page.items if a.name == self.name and a.customer_list_id), None)
        if match is not None:
            self.list_id = match.customer_list_id
            self._goto(Stage.READY)
        elif page.bookmark:
            self._bookmark = page.bookmark
        else:
            self._goto(Stage.FIND_LIST if self.is_new else Stage.NOT_FOUND)

    def _on_list_page(self, page: wire.Page) -> None:
        match = next((item for item in page.items if item.name == self.name), None)
        if match is not None:
            self.list_id = match.id
            self._goto(Stage.CREATE_AUDIENCE)
        elif page.bookmark:
            self._bookmark = page.bookmark
        else:
            self._goto(Stage.CREATE_LIST)

    def _goto(self, stage: Stage) -> None:
        self.stage = stage
        self._bookmark = None
