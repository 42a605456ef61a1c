"""The driver's pool of execution actors.

Like ray.util.ActorPool, each actor runs one execution at a time; unlike it,
actors belong to a runtime environment (a variant's runtime_env), share one
budget across environments, and are retired after dying more often than Ray
restarts them. Ray calls go through the create/kill functions the driver
passes in, so this logic is tested without a cluster."""

import asyncio
import collections
import time


class EnvironmentBroken(Exception):
    """Actors for this runtime environment cannot be created (e.g. its pip
    install failed); every execution in it fails the same way."""


class Slot:
    __slots__ = ("key", "handle", "name", "deaths", "idle_since")

    def __init__(self, key, handle, name):
        self.key = key
        self.handle = handle
        self.name = name
        self.deaths = 0
        self.idle_since = 0.0


class ActorPools:
    # An idle actor of another environment is taken over once it has been
    # idle this long, even when the waiting environment has actors of its
    # own: capacity follows demand without thrashing between variants.
    STEAL_AFTER = 0.5

    def __init__(self, budget, max_restarts, create, kill, clock=time.monotonic):
        self.budget = budget
        self.max_restarts = max_restarts
        self._create = create
        self._kill = kill
        self._clock = clock
        self._idle = collections.defaultdict(collections.deque)
        self._count = collections.Counter()  # actors per environment
        self._broken = {}
        self._cond = asyncio.Condition()
        self._closed = False

    @property
    def total(self):
        return sum(self._count.values())

    def count(self, key):
        return self._count[key]

    async def acquire(self, key, env):
        """An actor of environment key, created if the budget allows, waiting
        for one otherwise."""
        async with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the driver is shutting down")
                if key in self._broken:
                    raise EnvironmentBroken(self._broken[key])
                idle = self._idle.get(key)
                if idle:
                    return idle.popleft()
                if self.total < self.budget:
                    return self._new(key, env)
                victim = self._victim(key)
                if victim is not None:
                    self._retire(victim)
                    continue
                try:
                    await asyncio.wait_for(self._cond.wait(), self.STEAL_AFTER)
                except asyncio.TimeoutError:
                    pass

    def _new(self, key, env):
        try:
            handle, name = self._create(key, env)
        except Exception as e:
            message = str(e) if isinstance(e, EnvironmentBroken) else f"creating a Ray execution actor: {type(e).__name__}: {e}"
            self._broken[key] = message
            raise EnvironmentBroken(message) from None
        self._count[key] += 1
        return Slot(key, handle, name)

    def _victim(self, key):
        """An idle actor of another environment to retire: any, when key has
        no actor at all; else only one idle for STEAL_AFTER."""
        now = self._clock()
        starving = self._count[key] == 0
        best = None
        for other, idle in self._idle.items():
            if other == key or not idle:
                continue
            slot = idle[0]  # the longest idle of that environment
            if starving or now - slot.idle_since >= self.STEAL_AFTER:
                if best is None or slot.idle_since < best.idle_since:
                    best = slot
        if best is not None:
            self._idle[best.key].remove(best)
        return best

    def _retire(self, slot):
        self._count[slot.key] -= 1
        if self._count[slot.key] <= 0:
            del self._count[slot.key]
        self._kill(slot.handle)

    async def release(self, slot):
        async with self._cond:
            if self._closed:
                self._kill(slot.handle)
                return
            slot.idle_since = self._clock()
            self._idle[slot.key].append(slot)
            self._cond.notify_all()

    async def died(self, slot):
        """The actor's process died under a call. Ray restarts it up to
        max_restarts times; after that it is retired and, budget allowing, a
        new one takes its place on demand. Returns True when retired."""
        async with self._cond:
            slot.deaths += 1
            retired = slot.deaths > self.max_restarts
            if retired or self._closed:
                self._retire(slot)
            else:
                slot.idle_since = self._clock()
                self._idle[slot.key].append(slot)
            self._cond.notify_all()
            return retired

    async def broken(self, slot, message):
        """The actor could not be created: its environment is unusable."""
        async with self._cond:
            self._broken[slot.key] = message
            self._retire(slot)
            for s in self._idle.pop(slot.key, ()):
                self._retire(s)
            self._cond.notify_all()

    async def close(self):
        async with self._cond:
            self._closed = True
            for idle in self._idle.values():
                for s in idle:
                    self._kill(s.handle)
            self._idle.clear()
            self._cond.notify_all()
