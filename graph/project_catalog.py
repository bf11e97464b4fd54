"""What a project holds that funnels refer to by name: bots (by role), tags, products,
funnels and manager accounts. Pure data, filled by the caller from the project database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProjectCatalog:
    bots: Sequence[tuple[str, str]] = ()
    """(role, bot name) pairs, e.g. ("open", "Открытый бот")."""
    tags: AbstractSet[str] = field(default_factory=frozenset)
    products: AbstractSet[str] = field(default_factory=frozenset)
    funnels: AbstractSet[str] = field(default_factory=frozenset)
    manager_accounts: AbstractSet[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bots", tuple((str(r), str(n)) for r, n in self.bots))
        for name in ("tags", "products", "funnels", "manager_accounts"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))

    @property
    def bot_roles(self) -> frozenset[str]:
        return frozenset(role for role, _ in self.bots)

    def bot_name(self, role: str) -> str | None:
        """The name of the (first) bot with this role."""
        return next((name for r, name in self.bots if r == role), None)

    def with_created(
        self, *, tags: Iterable[str] = (), products: Iterable[str] = (), funnels: Iterable[str] = ()
    ) -> ProjectCatalog:
        """This catalog after creating the given tags, products and funnels."""
        return ProjectCatalog(
            bots=self.bots,
            tags=self.tags | set(tags),
            products=self.products | set(products),
            funnels=self.funnels | set(funnels),
            manager_accounts=self.manager_accounts,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProjectCatalog:
        """Read the catalog part of a project description (see resources/demo/project.json):
        ``bots`` as [{"role", "name"}], and lists ``tags``, ``products``, ``funnels``,
        ``manager_accounts``."""
        return cls(
            bots=[(b["role"], b["name"]) for b in data.get("bots", [])],
            tags=set(data.get("tags", [])),
            products=set(data.get("products", [])),
            funnels=set(data.get("funnels", [])),
            manager_accounts=set(data.get("manager_accounts", [])),
        )
