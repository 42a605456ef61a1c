"""The driver's pool of execution actors.

Like ray.util.ActorPool, each actor runs one execution at a time; unlike it,
actors belong to a runtime environment (a variant's runtime_env), share one
budget across environments, and are retired after dying more often than Ray
restarts them. Ray calls go through the create/kill functions the driver
passes in, so this logic is tested without a cluster.

Everything runs on the driver's event loop, so nothing here locks: a
released actor goes straight to the first execution waiting for its
environment (no wake-up of every waiter), which matters at hundreds of
executions a second."""

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
        self._total = 0
        self._broken = {}
        self._waiters = collections.deque()  # (key, env, future), oldest first
        self._ticker = None
        self._closed = False

    @property
    def total(self):
        return self._total

    def count(self, key):
        return self._count[key]

    async def acquire(self, key, env):
        """An actor of environment key, created if the budget allows, waiting
        for one otherwise."""
        slot = self._try(key, env)
        if slot is not None:
            return slot
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((key, env, fut))
        self._tick()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release(fut.result())  # handed over as we were cancelled
            raise

    def _try(self, key, env):
        """An actor for key now, or None. Raises for a broken environment."""
        if self._closed:
            raise RuntimeError("the driver is shutting down")
        if key in self._broken:
            raise EnvironmentBroken(self._broken[key])
        idle = self._idle.get(key)
        if idle:
            return idle.popleft()
        if self._total >= self.budget:
            victim = self._victim(key)
            if victim is None:
                return None
            self._retire(victim)
        return self._new(key, env)

    def _new(self, key, env):
        try:
            handle, name = self._create(key, env)
        except Exception as e:
            message = str(e) if isinstance(e, EnvironmentBroken) else f"creating a Ray execution actor: {type(e).__name__}: {e}"
            self._broken[key] = message
            raise EnvironmentBroken(message) from None
        self._count[key] += 1
        self._total += 1
        return Slot(key, handle, name)

    def prewarm(self, key, env, n):
        """Creates n actors for key up front (the runner's own environment,
        so the first executions do not wait for actors to boot); they are the
        caller's until released."""
        return [self._new(key, env) for _ in range(max(0, min(n, self.budget - self._total)))]

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
        self._total -= 1
        self._kill(slot.handle)

    def _serve(self):
        """Hands idle actors (or new ones) to waiting executions, oldest
        first; stops at the first that still has to wait for its own
        environment only when nothing else can be done for it."""
        if not self._waiters:
            return
        still = collections.deque()
        while self._waiters:
            key, env, fut = self._waiters.popleft()
            if fut.done():
                continue
            try:
                slot = self._try(key, env)
            except Exception as e:
                fut.set_exception(e)
                continue
            if slot is None:
                still.append((key, env, fut))
            else:
                fut.set_result(slot)
        self._waiters = still

    def _tick(self):
        """While executions wait, look again every STEAL_AFTER: idle actors
        of other environments become available by time alone."""
        if self._ticker is not None or not self._waiters:
            return
        loop = asyncio.get_running_loop()

        def tick():
            self._ticker = None
            self._serve()
            self._tick()

        self._ticker = loop.call_later(self.STEAL_AFTER, tick)

    def release(self, slot):
        if self._closed:
            self._kill(slot.handle)
            return
        # Straight to the oldest execution waiting for this environment.
        for i, (key, _, fut) in enumerate(self._waiters):
            if key == slot.key and not fut.done():
                del self._waiters[i]
                fut.set_result(slot)
                return
        slot.idle_since = self._clock()
        self._idle[slot.key].append(slot)
        self._serve()

    def died(self, slot):
        """The actor's process died under a call. Ray restarts it up to
        max_restarts times; after that it is retired and, budget allowing, a
        new one takes its place on demand. Returns True when retired."""
        slot.deaths += 1
        retired = slot.deaths > self.max_restarts
        if retired or self._closed:
            self._retire(slot)
            self._serve()
        else:
            self.release(slot)
        return retired

    def broken(self, slot, message):
        """The actor could not be created: its environment is unusable."""
        self._broken[slot.key] = message
        self._retire(slot)
        for s in self._idle.pop(slot.key, ()):
            self._retire(s)
        self._serve()

    def close(self):
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for idle in self._idle.values():
            for s in idle:
                self._kill(s.handle)
        self._idle.clear()
        waiters, self._waiters = self._waiters, collections.deque()
        for _, _, fut in waiters:
            if not fut.done():
                fut.set_exception(RuntimeError("the driver is shutting down"))
