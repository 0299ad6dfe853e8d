"""Dependencies handlers receive by name (Litestar `Provide`), with the annotations to declare them:

    async def handler(self, actor: ActorDep, storage: StorageDep) -> ...

`actor` and `session` authenticate the request (401 without a valid bearer token).
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from server.auth import Session, provide_actor, provide_session
from server.storage import Storage
from sync.domain import Actor
from sync.engine import SyncEngine

StorageDep = NamedDependency[Storage]
ActorDep = NamedDependency[Actor]
SessionDep = NamedDependency[Session]
EngineDep = NamedDependency[SyncEngine]


async def provide_storage(state: State) -> Storage:
    storage: Storage = state.storage
    return storage


async def provide_engine(state: State) -> SyncEngine:
    engine: SyncEngine = state.engine
    return engine


DEPENDENCIES = {
    "engine": Provide(provide_engine),
    "storage": Provide(provide_storage),
    "session": Provide(provide_session),
    "actor": Provide(provide_actor),
}
