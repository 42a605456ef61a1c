import asyncio

import pytest

from wtb_ray.pool import ActorPools, EnvironmentBroken


class FakeRay:
    """Stands in for actor creation and ray.kill: the pool's own logic
    (budget, environments, deaths) is what is tested here."""

    def __init__(self, fail=None):
        self.created, self.killed, self.fail = [], [], fail
        self.now = 0.0

    def create(self, key, env):
        if self.fail:
            raise self.fail
        handle = f"{key}-{len(self.created)}"
        self.created.append(handle)
        return handle, handle

    def kill(self, handle):
        self.killed.append(handle)

    def clock(self):
        return self.now


def pools(fake, budget=2, max_restarts=1):
    return ActorPools(budget, max_restarts, fake.create, fake.kill, clock=fake.clock)


def run(coro):
    return asyncio.run(coro)


def test_actors_are_created_on_demand_up_to_the_budget_and_reused():
    async def main():
        fake = FakeRay()
        p = pools(fake)
        a = await p.acquire("e", None)
        b = await p.acquire("e", None)
        assert fake.created == ["e-0", "e-1"]
        waiter = asyncio.ensure_future(p.acquire("e", None))
        await asyncio.sleep(0.01)
        assert not waiter.done(), "a third execution waits: the budget is two actors"
        p.release(a)
        c = await asyncio.wait_for(waiter, 1)
        assert c is a and len(fake.created) == 2
        p.release(b)
        p.release(c)
        assert p.total == 2

    run(main())


def test_an_environment_without_actors_takes_an_idle_one_of_another():
    async def main():
        fake = FakeRay()
        p = pools(fake)
        a = await p.acquire("x", None)
        b = await p.acquire("x", None)
        p.release(a)
        y = await asyncio.wait_for(p.acquire("y", None), 1)
        assert fake.killed == ["x-0"] and y.handle == "y-2"
        assert p.count("x") == 1 and p.count("y") == 1
        p.release(b)
        p.release(y)

    run(main())


def test_an_environment_with_actors_steals_only_long_idle_ones():
    async def main():
        fake = FakeRay()
        p = pools(fake)
        x = await p.acquire("x", None)
        y = await p.acquire("y", None)
        p.release(x)  # idle since t=0
        fake.now = 0.1
        waiter = asyncio.ensure_future(p.acquire("y", None))
        await asyncio.sleep(0.05)
        assert not waiter.done() and fake.killed == [], "x's actor was idle only briefly"
        fake.now = 1.0
        got = await asyncio.wait_for(waiter, 2)  # rechecks after STEAL_AFTER
        assert fake.killed == ["x-0"] and got.key == "y"
        p.release(y)
        p.release(got)

    run(main())


def test_deaths_beyond_max_restarts_retire_the_actor():
    async def main():
        fake = FakeRay()
        p = pools(fake, budget=1, max_restarts=1)
        a = await p.acquire("e", None)
        assert p.died(a) is False  # Ray restarts it: back in the pool
        again = await p.acquire("e", None)
        assert again is a
        assert p.died(again) is True  # second death: retired
        assert fake.killed == ["e-0"] and p.total == 0
        fresh = await p.acquire("e", None)  # the budget allows a new one
        assert fresh.handle == "e-1"

    run(main())


def test_a_broken_environment_fails_fast_and_others_go_on():
    async def main():
        fake = FakeRay()
        p = pools(fake, budget=3)
        a = await p.acquire("bad", None)
        b = await p.acquire("bad", None)
        p.release(b)
        p.broken(a, "pip install failed")
        with pytest.raises(EnvironmentBroken, match="pip install failed"):
            await p.acquire("bad", None)
        assert set(fake.killed) == {"bad-0", "bad-1"}
        ok = await p.acquire("good", None)
        assert ok.key == "good"

    run(main())


def test_creation_errors_break_the_environment():
    async def main():
        fake = FakeRay(fail=ValueError("working_dir /nope does not exist"))
        p = pools(fake)
        with pytest.raises(EnvironmentBroken, match="does not exist"):
            await p.acquire("e", None)
        with pytest.raises(EnvironmentBroken):
            await p.acquire("e", None)
        assert p.total == 0

    run(main())


def test_close_wakes_waiters_and_kills_idle_actors():
    async def main():
        fake = FakeRay()
        p = pools(fake, budget=1)
        a = await p.acquire("e", None)
        waiter = asyncio.ensure_future(p.acquire("e", None))
        await asyncio.sleep(0.01)
        p.close()
        with pytest.raises(RuntimeError, match="shutting down"):
            await asyncio.wait_for(waiter, 1)
        p.release(a)  # released after close: killed, not kept
        assert fake.killed == ["e-0"]

    run(main())
