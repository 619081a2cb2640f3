#!/usr/bin/env python3
"""A magfleet worker in Python: protocol version 2 (Protocols/README.md), test embedder.

It speaks the whole worker side of the protocol (Hello and its session, Welcome and its
timers, heartbeats that list the held leases and the compute step, Assign -> Result and
Progress, Release with its kind, Revoke and late Results, Reset, Refuse, Finished, SIGTERM ->
Drain, reconnect with backoff, CURVE) and computes with the TEST embedder of README section 7.3, bit for bit as
`magfleet worker --embedder test` does, so a coordinator started with `--embedder test` takes
it as one of its own. The test embedder is NOT A MODEL; a real worker replaces `TestEmbedder`
and `TestLoader` with section 7.1/7.2's network and preprocessing and keeps the rest.

Needs pyzmq, numpy and protobuf (a runtime that accepts the generated code: protobuf 4.21.x
with Debian's protoc 3.21), and the generated module magfleet_pb2 on PYTHONPATH:

    protoc -I Protocols --python_out=OUT Protocols/magfleet.proto
    PYTHONPATH=OUT python3 Protocols/python/worker.py --connect tcp://127.0.0.1:5555 --root /data

Exit status: 0 when the run is finished or after a SIGTERM drain, 2 when the coordinator
refuses this worker, 86 when an image carries the test embedder's crash marker.
"""

import argparse
import errno
import logging
import os
import signal
import socket as pysocket
import stat
import sys
import threading
import time
import uuid

import numpy as np
import zmq

try:
    import magfleet_pb2 as pb
except ImportError:  # pragma: no cover - a usage error
    sys.exit("worker.py: cannot import magfleet_pb2; generate it with "
             "`protoc -I Protocols --python_out=DIR Protocols/magfleet.proto` and put DIR on PYTHONPATH")

PROTOCOL_VERSION = 2  # Envelope.protocol_version, README section 1
SOFTWARE = "magfleet Protocols/python/worker.py (protocol 2)"
MASK64 = (1 << 64) - 1
log = logging.getLogger("magfleet.pyworker")


def now_ms():
    return int(time.monotonic() * 1000)


# ---------------------------------------------------------------------------------------------
# Section 7: what the worker computes. The test embedder (7.3) and its loader, with 7.4's
# failure categories.

class RowFailure(Exception):
    """One row's failure: a category (README 7.4) and a human-readable reason."""

    def __init__(self, category, reason):
        super().__init__(f"{category}: {reason}")
        self.category = category
        self.reason = reason


def image_root_join(root, path):
    """ImageRoot.join: no root (None or ""): the path as written; else root/path, also for an
    absolute path, with exactly one "/" between them."""
    if not root:
        return path
    if root.endswith("/") and path.startswith("/"):
        return root + path[1:]
    if not root.endswith("/") and not path.startswith("/"):
        return root + "/" + path
    return root + path


def read_file(path):
    """ImageDecoder.readFile: the bytes of a regular file, or the failure it is (README 7.4)."""
    def failure(code):
        if code in (errno.ENOENT, errno.ENOTDIR):
            return RowFailure("missing-file", f"{path}: no such file")
        if code in (errno.EACCES, errno.EPERM):
            return RowFailure("permission-denied", f"{path}: permission denied")
        if code == errno.EISDIR:
            return RowFailure("unreadable", f"{path}: is a directory")
        return RowFailure("unreadable", f"{path}: {os.strerror(code)}")

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise failure(e.errno) from None
    try:
        try:
            st = os.fstat(fd)
        except OSError as e:
            raise failure(e.errno) from None
        mode = st.st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                why = "is a directory"
            elif stat.S_ISFIFO(mode):
                why = "not a regular file: fifo"
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                why = "not a regular file: device"
            elif stat.S_ISSOCK(mode):
                why = "not a regular file: socket"
            else:
                why = "not a regular file"
            raise RowFailure("unreadable", f"{path}: {why}")
        if st.st_size == 0:
            raise RowFailure("empty-file", f"{path}: empty file (0 bytes)")
        chunks, done = [], 0
        while done < st.st_size:
            try:
                chunk = os.read(fd, st.st_size - done)
            except InterruptedError:
                continue
            except OSError as e:
                raise failure(e.errno) from None
            if not chunk:
                break
            chunks.append(chunk)
            done += len(chunk)
        if done == 0:
            raise RowFailure("empty-file", f"{path}: empty file (0 bytes)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def splitmix64(state):
    """One splitmix64 step: returns (new state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def unit_float(x):
    """float32(x >> 40) / 2^23 - 1: a float in [-1, 1) from the top 24 bits. Every step is exact
    in float32, so this is exactly (q - 2^23) / 2^23 with q = x >> 40."""
    return np.float32(((x >> 40) - (1 << 23)) / float(1 << 23))


class TestEmbedder:
    """NOT A MODEL: README 7.3. embedding = normalize(W . x), W a fixed dim x 16 matrix."""

    INPUT_LENGTH = 16

    def __init__(self, dim=8, variant="", preset="magface", flip=False):
        self.dim = dim
        self.model = pb.ModelInfo(
            fingerprint="test-embedder-v1" + (f"-{variant}" if variant else "") + " (NOT A MODEL)",
            architecture="test-hash (NOT A MODEL)",
            dim=dim,
            preprocessing=preset,
            flip=flip)
        state = 0x6D6167666C656574  # "magfleet"
        w = np.empty(dim * self.INPUT_LENGTH, dtype=np.float32)
        for i in range(w.size):
            state, z = splitmix64(state)
            w[i] = unit_float(z)
        self.weights = w.reshape(dim, self.INPUT_LENGTH)  # row j = output j, row-major

    def embed(self, x):
        """x: 16 float32. Every operation is a float32 operation rounded to nearest (numpy
        float32 scalars and arrays; no fused multiply-add), in the order of README 7.3."""
        s = np.zeros(self.dim, dtype=np.float32)
        for k in range(self.INPUT_LENGTH):  # s_j += W[j,k] * x[k], k = 0..15 in order
            s = s + self.weights[:, k] * x[k]
        norm = np.float32(0)
        for j in range(self.dim):  # in order, not numpy's pairwise sum
            norm = np.float32(norm + np.float32(s[j] * s[j]))
        scale = np.float32(np.float32(1) / np.sqrt(norm)) if norm > 0 else np.float32(1)
        return (s * scale).astype(np.float32)


def test_features(data):
    """TestImageLoader.features: 16 float32 from the bytes (FNV-1a 64, then splitmix64)."""
    if data.startswith(b"MAGFLEET-TEST-CRASH"):
        os._exit(86)  # a poison image: the process dies mid-shard
    if data.startswith(b"MAGFLEET-TEST-FAIL"):
        raise RowFailure("corrupt", "test: image marked unreadable")
    if not data:
        raise RowFailure("empty-file", "empty file (0 bytes)")
    if data.startswith(b"MAGFLEET-TEST-NAN"):
        return np.full(16, np.nan, dtype=np.float32)
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    out = np.empty(16, dtype=np.float32)
    for i in range(16):
        h, z = splitmix64(h)
        out[i] = unit_float(z)
    return out


class TestLoader:
    """TestImageLoader: where an item's bytes come from (README 7.3)."""

    def __init__(self, root, delay_ms=0):
        self.root = root
        self.delay_ms = delay_ms

    def load(self, item, shipped):
        if self.delay_ms > 0:  # --test-delay-ms: make shards take time
            time.sleep(self.delay_ms / 1000)
        if shipped:
            data = item.data
        else:
            path = image_root_join(self.root, item.path)
            at = path.find("synthetic:")
            data = path[at:].encode("utf-8") if at >= 0 else read_file(path)
        stall = b"MAGFLEET-TEST-STALL "
        if data.startswith(stall):  # a stalled read (README 7.3)
            digits = data[len(stall):len(stall) + 12].split(maxsplit=1)
            if digits and digits[0].isdigit():
                time.sleep(int(digits[0]) / 1000)
        return test_features(data)


def compute(assign, shipped, embedder, loader, batch_size, progress, step=lambda: None):
    """WorkerPipeline.run: one Result for an Assign; a per-row problem is that row's failure."""
    result = pb.Result(shard_first=assign.shard_first, shard_count=assign.shard_count,
                       attempt=assign.attempt, dim=embedder.dim)
    rows, total = [], len(assign.items)
    batch = []  # (index, input)

    def fail(index, category, reason):
        result.failures.add(index=index, category=category, reason=reason)

    def flush():
        if not batch:
            return
        step()
        try:
            out = [embedder.embed(x) for _, x in batch]
            for (i, _), e in zip(batch, out):
                if np.all(np.isfinite(e)):
                    result.indices.append(i)
                    rows.append(e)
                else:  # never sent as an embedding (README 2, Result)
                    fail(i, "non-finite", "the model gave a non-finite embedding (NaN or infinity)")
        except Exception as e:  # the embedder failed on the batch: each of its rows fails
            for i, _ in batch:
                fail(i, "embedding", f"embedding failed: {e}")
        batch.clear()
        done = len(result.indices) + len(result.failures)
        if done < total:
            progress(done)

    for item in assign.items:
        if item.HasField("unreadable"):  # shipping: the coordinator could not read the file
            fail(item.index, item.unreadable.category, item.unreadable.reason)
            continue
        step()
        try:
            batch.append((item.index, loader.load(item, shipped)))
        except RowFailure as f:
            fail(item.index, f.category, f.reason)
            continue
        if len(batch) == batch_size:
            flush()
    flush()
    result.embeddings = np.asarray(rows, dtype="<f4").reshape(-1).tobytes()  # README 7.5
    return result


# ---------------------------------------------------------------------------------------------
# The compute thread: a queue of shards; only the network thread touches the socket.

class ComputeThread:
    def __init__(self, embedder, loader, batch_size):
        self.embedder, self.loader, self.batch_size = embedder, loader, batch_size
        self.cv = threading.Condition()
        self.jobs = []  # (assign, shipped), not started
        self.events = []  # ("result", Result, session) or ("progress", key, attempt, rows)
        self.closed = False
        self.current = None  # (key, attempt) being computed
        self.step_started = 0  # when its current step (an image read, a batch) began
        self.thread = threading.Thread(target=self.run, name="compute", daemon=True)
        self.thread.start()

    def push(self, assign, shipped, session):
        with self.cv:
            self.jobs.append((assign, shipped, session))
            self.cv.notify()

    def remove(self, key):
        """Drops the queued shard `key` if it has not started; whether it was queued."""
        with self.cv:
            for n, (a, _, _) in enumerate(self.jobs):
                if (a.shard_first, a.shard_count) == key:
                    del self.jobs[n]
                    return True
            return False

    def state(self):
        """The lease being computed and how long its current step has lasted (README 4.5)."""
        with self.cv:
            if self.current is None:
                return None, 0
            return self.current, max(0, now_ms() - self.step_started)

    def cancel(self):
        """Drops the shards not started; returns their keys."""
        with self.cv:
            keys = [(a.shard_first, a.shard_count) for a, _, _ in self.jobs]
            self.jobs.clear()
            return keys

    def take(self):
        with self.cv:
            events, self.events = self.events, []
            return events

    def close(self):
        with self.cv:
            self.closed = True
            self.cv.notify()

    def run(self):
        while True:
            with self.cv:
                while not self.jobs and not self.closed:
                    self.cv.wait()
                if self.closed:
                    return
                assign, shipped, session = self.jobs.pop(0)
                key = (assign.shard_first, assign.shard_count)
                self.current, self.step_started = (key, assign.attempt), now_ms()

            def progress(rows):
                with self.cv:
                    self.events.append(("progress", key, assign.attempt, rows))

            def step():
                with self.cv:
                    self.step_started = now_ms()

            result = compute(assign, shipped, self.embedder, self.loader, self.batch_size, progress, step)
            with self.cv:
                self.current = None
                self.events.append(("result", result, session))


# ---------------------------------------------------------------------------------------------
# The worker state machine (README section 5), one thread, one DEALER socket at a time.

def malformed(a):
    """Why an Assign breaks README section 2 (Assign), or None."""
    if a.shard_count < 1 or not a.items or len(a.items) > a.shard_count:
        return f"{len(a.items)} items for a shard of {a.shard_count} rows"
    end, previous = a.shard_first + a.shard_count, None
    for item in a.items:
        if not (a.shard_first <= item.index < end) or (previous is not None and item.index <= previous):
            return f"item {item.index} is outside the shard or out of order"
        if len(item.landmarks) not in (0, 10):
            return f"item {item.index} has {len(item.landmarks)} landmark values"
        previous = item.index
    return None


class Exit(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code, self.reason = code, reason


class Worker:
    def __init__(self, args, embedder, compute_thread):
        self.args = args
        self.model = embedder.model
        self.compute = compute_thread
        self.worker_id = args.worker_id or f"{pysocket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.ctx = zmq.Context()
        self.sock = None
        self.connections = 0
        self.phase = "disconnected"  # disconnected | greeting | working | draining | exited
        self.retry_at = 0
        self.since = 0  # greeting started
        self.deadline = 0  # drain deadline
        self.held = {}  # (shard_first, shard_count) -> attempt: leases queued or computing
        self.revoked = {}  # the same, revoked while computing: their Result may still go (README 4.3)
        self.session = 0  # Hellos sent; Welcome echoes it (README 4.4)
        self.assigns_received = 0  # in this session
        self.interval = args.heartbeat_ms
        self.timeout = args.heartbeat_timeout_ms
        self.backoff = args.backoff_initial_ms
        self.last_heard = 0
        self.last_sent = 0
        self.ship = False

    # -- sending

    def send(self, **body):
        envelope = pb.Envelope(protocol_version=PROTOCOL_VERSION, **body)
        self.last_sent = now_ms()
        if self.sock is None:
            return
        try:
            self.sock.send(envelope.SerializeToString(), zmq.NOBLOCK)
        except zmq.Again:
            log.debug("send dropped: not connected (%s)", envelope.WhichOneof("body"))

    def release(self, key, attempt, reason, kind):
        self.send(release=pb.Release(shard_first=key[0], shard_count=key[1], attempt=attempt, reason=reason, kind=kind))

    # -- connection

    def connect(self):
        self.close_socket(linger=0)
        self.connections += 1
        s = self.ctx.socket(zmq.DEALER)
        # A fresh routing id per connection (README section 1).
        s.setsockopt(zmq.ROUTING_ID, f"{self.worker_id}/{self.connections}".encode())
        s.setsockopt(zmq.MAXMSGSIZE, self.args.max_message_bytes)
        s.setsockopt(zmq.RECONNECT_IVL, 100)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        if self.args.curve_key:
            public, secret = read_key_file(self.args.curve_key)
            s.setsockopt(zmq.CURVE_PUBLICKEY, public.encode())
            s.setsockopt(zmq.CURVE_SECRETKEY, secret.encode())
            s.setsockopt(zmq.CURVE_SERVERKEY, read_public_key(self.args.server_key).encode())
        s.connect(self.args.connect)
        self.sock = s
        log.info("connecting endpoint=%s attempt=%d", self.args.connect, self.connections)

    def close_socket(self, linger):
        if self.sock is not None:
            self.sock.setsockopt(zmq.LINGER, linger)
            self.sock.close()
            self.sock = None

    def greet(self, connect):
        self.phase, self.since = "greeting", now_ms()
        self.session += 1
        if connect:
            self.connect()
        self.send(hello=pb.Hello(worker_id=self.worker_id, model=self.model, prefetch=self.args.prefetch,
                                 hostname=pysocket.gethostname(), pid=os.getpid(), software=SOFTWARE,
                                 session=self.session))

    def disconnect(self):
        """Drop every lease, close the socket, come back after the backoff (which doubles)."""
        self.held, self.revoked = {}, {}
        self.compute.cancel()
        self.close_socket(linger=0)
        self.phase, self.retry_at = "disconnected", now_ms() + self.backoff
        self.backoff = min(self.backoff * 2, self.args.backoff_max_ms)

    def leave(self, reason):
        self.send(bye=pb.Bye(reason=reason))
        raise Exit(0, reason)

    def cancel_queued(self):
        """Hands back (Release) every queued shard that has not started."""
        for key in self.compute.cancel():
            self.revoked.pop(key, None)
            attempt = self.held.pop(key, None)
            if attempt is not None:
                self.release(key, attempt, "worker shutting down", pb.RELEASE_KIND_SHUTTING_DOWN)
        if self.phase == "draining" and not self.held:
            self.leave("drained after SIGTERM")

    # -- events

    def receive(self, e):
        self.last_heard = now_ms()
        kind = e.WhichOneof("body")
        if kind == "welcome":
            w = e.welcome
            if self.phase != "greeting" or w.session not in (0, self.session):
                return  # not the answer to our latest Hello (README 4.4)
            self.phase, self.backoff = "working", self.args.backoff_initial_ms
            self.assigns_received = 0
            if w.heartbeat_interval_ms > 0:
                self.interval = w.heartbeat_interval_ms
            if w.heartbeat_timeout_ms > 0:
                self.timeout = w.heartbeat_timeout_ms
            self.ship = w.ship_images
            log.info("welcomed by the coordinator run=%s ship_images=%s", w.run_id, w.ship_images)
        elif kind == "refuse":
            log.error("refused by the coordinator reason=%s", e.refuse.reason)
            raise Exit(2, f"refused by the coordinator: {e.refuse.reason}")
        elif kind == "assign":
            a = e.assign
            key = (a.shard_first, a.shard_count)
            if self.phase in ("working", "draining"):
                self.assigns_received += 1
            if self.phase == "working":
                why = malformed(a)
                if why:
                    log.warning("malformed Assign; handing it back shard=%s reason=%s", key, why)
                    self.release(key, a.attempt, f"malformed Assign: {why}", pb.RELEASE_KIND_MALFORMED)
                elif len(self.held) >= self.args.prefetch or key in self.held:
                    log.warning("Assign beyond prefetch; handing it back shard=%s", key)
                    self.release(key, a.attempt, "worker cannot take it (prefetch full)", pb.RELEASE_KIND_PREFETCH_FULL)
                else:
                    self.held[key] = a.attempt
                    self.compute.push(a, self.ship, self.session)
            elif self.phase == "draining":
                self.release(key, a.attempt, "worker shutting down", pb.RELEASE_KIND_SHUTTING_DOWN)
        elif kind == "revoke":
            r = e.revoke
            key = (r.shard_first, r.shard_count)
            if self.held.get(key) == r.attempt:
                log.info("lease revoked by the coordinator shard=%s reason=%s", key, r.reason)
                del self.held[key]
                if not self.compute.remove(key):
                    self.revoked[key] = r.attempt  # computing now: its Result may still go
                if self.phase == "draining" and not self.held:
                    self.leave("drained after SIGTERM")
        elif kind == "reset":
            if self.phase == "greeting":
                return  # answers a message sent before our Hello; its Welcome follows
            log.warning("coordinator reset this session; greeting again reason=%s", e.reset.reason)
            self.held, self.revoked = {}, {}
            self.compute.cancel()
            if self.phase == "draining":
                self.leave("coordinator reset during drain")
            self.greet(connect=False)
        elif kind == "finished":
            self.compute.cancel()
            raise Exit(0, "the run is finished")
        elif kind == "heartbeat":
            pass
        else:
            log.warning("dropped a message a worker never accepts kind=%s", kind)

    def computed(self, result, session):
        key = (result.shard_first, result.shard_count)
        if session != self.session:
            log.info("dropped the result of a lease from an earlier session shard=%s", key)
            return
        if self.held.get(key) == result.attempt:
            del self.held[key]
        elif self.revoked.get(key) == result.attempt:
            del self.revoked[key]  # a late Result (README 4.3)
        else:
            log.info("dropped the result of a lease no longer held shard=%s", key)
            return
        if self.phase in ("working", "draining"):
            self.send(result=result)
            if self.phase == "draining" and not self.held:
                self.leave("drained after SIGTERM")

    def progressed(self, key, attempt, rows):
        if self.held.get(key) == attempt and self.phase in ("working", "draining"):
            self.send(progress=pb.Progress(shard_first=key[0], shard_count=key[1], attempt=attempt, rows_done=rows))

    def terminate(self):
        """SIGTERM: say Drain (no new work), hand back what has not started, finish the rest."""
        if self.phase == "working":
            log.info("SIGTERM: finishing the current shard, handing back the rest")
            self.phase, self.deadline = "draining", now_ms() + self.args.drain_timeout_ms
            self.send(drain=pb.Drain(reason="SIGTERM"))
            self.cancel_queued()
        elif self.phase not in ("draining", "exited"):
            raise Exit(0, "SIGTERM while not connected")

    def tick(self):
        now = now_ms()
        if self.phase == "disconnected" and now >= self.retry_at:
            self.greet(connect=True)
        elif self.phase == "greeting" and now - self.since > self.args.heartbeat_timeout_ms:
            log.warning("no Welcome from the coordinator; reconnecting backoff_ms=%d", self.backoff)
            self.disconnect()
        elif self.phase == "working" and now - self.last_heard > self.timeout:
            log.warning("coordinator silent past the heartbeat timeout; dropping leases and reconnecting held=%d",
                        len(self.held))
            self.disconnect()
        elif self.phase == "draining":
            if not self.held:
                self.leave("drained after SIGTERM")
            if now >= self.deadline or now - self.last_heard > self.timeout:
                for key, attempt in sorted(self.held.items()):
                    self.release(key, attempt, "worker shutting down (drain timeout)", pb.RELEASE_KIND_SHUTTING_DOWN)
                self.held = {}
                self.leave("handed back unfinished shards after SIGTERM")
            self.heartbeat_if_due(now)
        elif self.phase == "working":
            self.heartbeat_if_due(now)

    def heartbeat_if_due(self, now):
        if now - self.last_sent >= self.interval:
            # What it holds and what its compute thread does (README 2, Heartbeat; 4.4, 4.5).
            current, step_ms = self.compute.state()
            heartbeat = pb.Heartbeat(assigns_received=self.assigns_received, step_ms=min(step_ms, 2**32 - 1))
            for (first, count), attempt in sorted(self.held.items()):
                heartbeat.held.add(shard_first=first, shard_count=count, attempt=attempt)
            if current is not None:
                heartbeat.computing.CopyFrom(pb.LeaseRef(shard_first=current[0][0], shard_count=current[0][1], attempt=current[1]))
            self.send(heartbeat=heartbeat)

    # -- the loop

    def run(self, stop):
        try:
            self.greet(connect=True)
            stopping = False
            while True:
                if self.sock is not None:
                    self.sock.poll(20, zmq.POLLIN)
                else:
                    time.sleep(0.02)
                if stop.is_set() and not stopping:
                    stopping = True
                    self.terminate()
                for event in self.compute.take():
                    if event[0] == "result":
                        self.computed(event[1], event[2])
                    else:
                        self.progressed(event[1], event[2], event[3])
                self.drain_socket()
                self.tick()
        except Exit as done:
            self.phase = "exited"
            log.info("worker exiting reason=%s status=%d", done.reason, done.code)
            if done.code != 0:
                print(f"worker.py: {done.reason}", file=sys.stderr)
            self.compute.close()
            self.close_socket(linger=1000)  # let Result/Release/Bye leave
            self.ctx.term()
            return done.code

    def drain_socket(self):
        budget = 256
        while budget > 0 and self.sock is not None:
            budget -= 1
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 1:
                log.warning("dropped a message of %d frames", len(frames))
                continue
            if len(frames[0]) > self.args.max_message_bytes:
                log.warning("dropped a message of %d bytes (over the limit)", len(frames[0]))
                continue
            try:
                e = pb.Envelope.FromString(frames[0])
            except Exception as x:
                log.warning("dropped a message reason=malformed: %s", x)
                continue
            if e.WhichOneof("body") is None:
                log.warning("dropped a message reason=no body (unknown message type?)")
                continue
            if e.protocol_version != PROTOCOL_VERSION:
                log.warning("dropped a message reason=protocol version %d is not supported", e.protocol_version)
                continue
            sock = self.sock
            self.receive(e)
            if self.sock is not sock:
                return


# ---------------------------------------------------------------------------------------------
# CURVE key files (README 7.6).

def read_fields(path):
    fields = {}
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            fields[k.strip()] = v.strip()
    return fields


Z85 = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")


def is_z85_key(text):
    return len(text) == 40 and all(c in Z85 for c in text)


def read_key_file(path):
    fields = read_fields(path)
    if not (is_z85_key(fields.get("public-key", "")) and is_z85_key(fields.get("secret-key", ""))):
        sys.exit(f"worker.py: {path}: needs public-key and secret-key lines of 40 Z85 characters")
    return fields["public-key"], fields["secret-key"]


def read_public_key(text):
    if is_z85_key(text):
        return text
    key = read_fields(text).get("public-key", "")
    if not is_z85_key(key):
        sys.exit(f"worker.py: {text}: no public-key line of 40 Z85 characters")
    return key


# ---------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connect", required=True, help="the coordinator's endpoint, e.g. tcp://host:5555")
    p.add_argument("--root", help="joined to every list path (this host's mount of the shared storage)")
    p.add_argument("--prefetch", type=int, default=2, help="shards this worker may hold at once (its credit)")
    p.add_argument("--batch-size", type=int, default=32, help="images per embedding batch (Progress after each)")
    p.add_argument("--embedder", choices=["test"], default="test", help="only the test embedder (NOT A MODEL)")
    p.add_argument("--test-dim", type=int, default=8, help="embedding length of the test embedder")
    p.add_argument("--test-variant", default="", help="a tag folded into the test embedder's fingerprint")
    p.add_argument("--test-delay-ms", type=int, default=0, help="sleep this long per image (tests)")
    p.add_argument("--preset", choices=["magface", "arcface"], default="magface", help="recorded in ModelInfo")
    p.add_argument("--flip", action="store_true", help="recorded in ModelInfo (the test embedder ignores it)")
    p.add_argument("--heartbeat-ms", type=int, default=1000)
    p.add_argument("--heartbeat-timeout-ms", type=int, default=5000)
    p.add_argument("--backoff-initial-ms", type=int, default=250)
    p.add_argument("--backoff-max-ms", type=int, default=10000)
    p.add_argument("--drain-timeout-ms", type=int, default=30000)
    p.add_argument("--max-message-bytes", type=int, default=64 << 20)
    p.add_argument("--curve-key", help="this worker's CURVE key file (from `magfleet keygen`)")
    p.add_argument("--server-key", help="the coordinator's public key (a .pub file or the Z85 key)")
    p.add_argument("--worker-id", help="default: hostname-pid-random")
    p.add_argument("--log-level", default="info")
    args = p.parse_args(argv)
    if (args.curve_key is None) != (args.server_key is None):
        p.error("--curve-key and --server-key go together")
    if args.prefetch < 1 or args.batch_size < 1 or args.test_dim < 1:
        p.error("--prefetch, --batch-size and --test-dim must be positive")

    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # A parent may start us with these blocked (a child inherits the mask of the thread that
    # spawned it: Foundation's Process run from a Dispatch thread blocks nearly every signal).
    # Unblocked here, before the compute thread starts, so SIGTERM always drains.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    embedder = TestEmbedder(dim=args.test_dim, variant=args.test_variant, preset=args.preset, flip=args.flip)
    compute_thread = ComputeThread(embedder, TestLoader(args.root, args.test_delay_ms), args.batch_size)
    worker = Worker(args, embedder, compute_thread)
    log.info("worker starting id=%s fingerprint=%s dim=%d", worker.worker_id, embedder.model.fingerprint, args.test_dim)
    return worker.run(stop)


if __name__ == "__main__":
    sys.exit(main())
