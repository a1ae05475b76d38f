"""Match survival against a real Redis: one owner per match by lease, fenced writes, and a
checkpoint plus the logged inputs that give another worker the exact state to go on from."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer

from match import services
from match.games.arena import ARENA
from match.models import Match
from match.runner import TAKEN_OVER, MatchRunner
from match.survival import Fenced, Keeper, MatchStore

pytestmark = pytest.mark.django_db(transaction=True)

SETTINGS = {"tick_hz": 20, "score_limit": 50, "time_limit_ticks": 20 * 60}
PLAYERS: list[Any] = [{"seat": 0, "name": "ann"}, {"seat": 1, "name": "bob"}, {"seat": 2, "name": "cat"}]


@pytest.fixture
async def store(settings: Any, redis_url: str, redis_prefix: str) -> AsyncIterator[MatchStore]:
    settings.REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"prefix": redis_prefix}}
    }
    settings.MATCH_CHECKPOINT_TICKS = 25
    store = MatchStore()
    yield store
    keys = [key async for key in store.redis.scan_iter(match=f"{redis_prefix}:*")]
    if keys:
        await store.redis.delete(*keys)
    await store.close()


async def forget_everything(store: MatchStore, prefix: str) -> None:
    """What a restarted Redis without persistence remembers of this test: nothing. Only this
    test's keys go (a FLUSHDB would wipe a shared REDIS_URL server under other tests)."""
    keys = [key async for key in store.redis.scan_iter(match=f"{prefix}:*")]
    assert keys, "the test had written something to forget"
    await store.redis.delete(*keys)


async def released(_match_id: str) -> None:
    return None


def runner_for(match_id: str, owner: str, store: MatchStore | None, layer: Any) -> MatchRunner:
    return MatchRunner(
        match_id=match_id,
        rules=ARENA,
        players=PLAYERS,
        settings=SETTINGS,
        seed=11,
        layer=layer,
        owner_channel=owner,
        join_timeout=60,
        on_released=released,
        grace_seconds=1,
        keeper=Keeper(store, match_id, owner, layer) if store is not None else None,
    )


async def test_a_checkpoint_plus_the_logged_inputs_give_the_new_owner_the_exact_state(store):
    layer = InMemoryChannelLayer()
    match_id = str(uuid.uuid4())
    live = runner_for(match_id, "worker-a", store, layer)
    assert await store.acquire(match_id, "worker-a")
    live.present = {0: "r#1", 1: "r#2", 2: "r#3"}
    live._begin_running()
    rnd = random.Random(5)
    hashes = {0: ARENA.state_hash(live.state)}
    seqs = [0, 0, 0]
    for tick in range(1, 138):
        for seat in (0, 1):
            if rnd.random() < 0.6:
                seqs[seat] += 1
                live.on_input(
                    seat=seat,
                    fields={
                        "t": "input",
                        "seq": seqs[seat],
                        "mx": rnd.choice([-1, 0, 1]),
                        "my": rnd.choice([-1, 0, 1]),
                        "aim": rnd.randrange(4096),
                        "fire": rnd.random() < 0.3,
                    },
                )
        if tick == 30:
            await live.on_leave(seat=1, relay="r", socket=2)  # an idle input, then a forfeit
        await live._tick()
        hashes[ARENA.tick(live.state)] = ARENA.state_hash(live.state)
    assert live.forfeited == {1}, "seat 1's grace (1 s) ran out during the run"
    assert not ARENA.is_over(live.state)

    checkpoint = await store.load(match_id)
    assert checkpoint is not None
    assert checkpoint.log, "some ticks since the last checkpoint are in the log"
    heir = runner_for(match_id, "worker-b", store, layer)
    replayed = heir.restore(checkpoint)
    tick = ARENA.tick(heir.state)
    assert replayed == tick - checkpoint.tick
    assert tick >= ARENA.tick(live.state) - 1, "at most the last unflushed tick is lost"
    assert ARENA.state_hash(heir.state) == hashes[tick], "the same state, hidden fields included"
    assert heir.forfeited == {1}
    assert heir.phase == "running"
    assert heir.present == {0: f"{TAKEN_OVER}#0", 2: f"{TAKEN_OVER}#0"}


async def test_writes_of_a_worker_that_lost_the_lease_are_refused(store):
    match_id = str(uuid.uuid4())
    assert await store.acquire(match_id, "worker-a")
    assert not await store.acquire(match_id, "worker-b"), "one owner at a time"
    owner_key = store.keys(match_id)[0]
    await store.redis.set(owner_key, "worker-b")  # worker-a stalled past its lease; b took it
    with pytest.raises(Fenced):
        await store.checkpoint(match_id, "worker-a", b"stale")
    with pytest.raises(Fenced):
        await store.append(match_id, "worker-a", [[1, [], []]])
    assert await store.renew(match_id, "worker-a") == 0
    await store.finish(match_id, "worker-a")
    assert await store.redis.get(owner_key) == b"worker-b", "a stale finish deletes nothing"


async def test_a_lease_redis_forgot_is_taken_back_by_its_owner(store, redis_prefix):
    match_id = str(uuid.uuid4())
    assert await store.acquire(match_id, "worker-a")
    await forget_everything(store, redis_prefix)
    assert await store.renew(match_id, "worker-a") == 2
    assert await store.orphans(skip=set()) == [], "listed again, and held"
    assert await store.redis.sismember(store.running_key, match_id)


async def test_after_redis_forgot_everything_the_owner_checkpoints_and_holds_the_match_again(
    store, redis_prefix
):
    match_id = str(uuid.uuid4())
    assert await store.acquire(match_id, "worker-a")
    await forget_everything(store, redis_prefix)
    assert not await store.append(match_id, "worker-a", [[7, [], []]]), "no log without its checkpoint"
    await store.checkpoint(match_id, "worker-a", b"state at tick 8")
    assert await store.redis.get(store.keys(match_id)[0]) == b"worker-a"
    assert await store.redis.sismember(store.running_key, match_id)
    assert not await store.acquire(match_id, "worker-b")


async def test_an_expired_lease_makes_the_match_an_orphan_for_every_other_worker(store, settings):
    match_id = str(uuid.uuid4())
    assert await store.acquire(match_id, "worker-a")
    assert await store.orphans(skip=set()) == []
    await store.redis.pexpire(store.keys(match_id)[0], 1)
    await asyncio.sleep(0.05)
    assert await store.orphans(skip=set()) == [match_id]
    assert await store.orphans(skip={match_id}) == [], "a worker skips the matches it runs"


async def test_a_runner_whose_lease_was_taken_stops_without_writing_a_result(store, settings):
    settings.MATCH_LEASE_MS = 600  # renewed every 0.2 s
    match = await database_sync_to_async(services.match_create)(players=2)
    match_id = str(match.id)
    assert await database_sync_to_async(services.match_claim)(match_id=match_id, owner="worker-a")
    stopped = asyncio.Event()

    async def on_released(_match_id: str) -> None:
        stopped.set()

    layer = InMemoryChannelLayer()
    runner = MatchRunner(
        match_id=match_id,
        rules=ARENA,
        players=PLAYERS[:2],
        settings=SETTINGS,
        seed=3,
        layer=layer,
        owner_channel="worker-a",
        join_timeout=60,
        on_released=on_released,
        keeper=Keeper(MatchStore(), match_id, "worker-a", layer),
    )
    assert await store.acquire(match_id, "worker-a")
    runner.start()
    await store.redis.set(store.keys(match_id)[0], "worker-b")
    await asyncio.wait_for(stopped.wait(), 10)
    assert runner.fenced
    row = await database_sync_to_async(Match.objects.get)(pk=match_id)
    assert row.status == "waiting", "no result written by the worker that lost the match"


async def test_a_result_is_written_only_by_the_owner_of_record():
    match = await database_sync_to_async(services.match_create)(players=2)
    match_id = str(match.id)
    await database_sync_to_async(services.match_claim)(match_id=match_id, owner="worker-a")
    assert await database_sync_to_async(services.match_take_over)(match_id=match_id, owner="worker-b")
    result = {"reason": "time", "tick": 5, "ranking": []}
    finish = database_sync_to_async(services.match_finish)
    assert not await finish(match_id=match_id, result=result, ticks=5, owner="worker-a")
    assert await finish(match_id=match_id, result=result, ticks=5, owner="worker-b")
    assert not await database_sync_to_async(services.match_take_over)(match_id=match_id, owner="worker-c")
