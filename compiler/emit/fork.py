"""One piece of work in a forked child while this process goes on (compile's two halves)."""

from __future__ import annotations

import os
import pickle
import signal


def _die_with(parent: int) -> None:
    """The child dies when the parent does (a SIGKILLed compile leaves no writer behind
    in its output folder): prctl(PR_SET_PDEATHSIG, SIGKILL), then a check that the
    parent did not die before it took effect."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


class Forked:
    """fn(*args) computed in a forked child while this process goes on; result()
    is its value, or None when the child could not deliver one (the caller then
    computes it itself: the answer never depends on the child)."""

    def __init__(self, fn, *args) -> None:
        self.pid = None
        parent = os.getpid()
        try:
            read, write = os.pipe()
            pid = os.fork()
        except OSError:
            return
        if pid == 0:  # the child: compute, send, and leave without running any cleanup
            code = 1
            try:
                _die_with(parent)
                os.close(read)
                data = pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)
                view = memoryview(data)
                while view:
                    view = view[os.write(write, view):]
                code = 0
            except BaseException:
                pass
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self.fd = pid, read

    def result(self):
        if self.pid is None:
            return None
        chunks = []
        try:
            with os.fdopen(self.fd, "rb") as f:
                while chunk := f.read(1 << 20):
                    chunks.append(chunk)
        finally:
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
        if os.waitstatus_to_exitcode(status) != 0 or not chunks:
            return None
        return pickle.loads(b"".join(chunks))

    def cancel(self) -> None:
        if self.pid is not None:  # the child this object started, by its PID
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.close(self.fd)
            except OSError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = None
