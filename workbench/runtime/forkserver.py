"""Fork server for Python-function steps: ``python -m workbench.runtime.forkserver FD``.

Starting a Python interpreter and importing the launcher costs tens of milliseconds of
CPU per step, more than a trivial step itself. The local backend therefore starts this
small server once (it imports only :mod:`workbench.runtime.launch`, single-threaded) and
asks it to ``fork`` one child per step. Every step is still its own process in its own
session, with its own environment, working directory and log pipe, killed as a process
group: isolation is unchanged, only the interpreter start is shared.

Protocol on the ``SOCK_SEQPACKET`` socket ``FD`` (one JSON object per message):

* client -> server: ``{"op": "spawn", "id": N, "argv": [...], "env": {...}, "cwd": "..."}``
  with one file descriptor attached (the write end of the step's log pipe);
* server -> client: ``{"op": "started", "id": N, "pid": P}`` or
  ``{"op": "error", "id": N, "message": "..."}``, and later ``{"op": "exit", "pid": P, "code": C}``
  (``C`` as ``subprocess`` reports it: negative for a signal).

The server exits when the client closes its end (the controller ended or died), and takes the
steps still running with it (SIGTERM to each process group, SIGKILL 3 s later): no orphans.
``argv`` is the launcher's own argv (``[python, "-m", "workbench.runtime.launch", SPEC]``): the
child runs it as that command would.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import socket
import sys
import traceback

from workbench.runtime import launch

#: The largest message (spawn requests carry the step's environment and launch spec).
MAX_MESSAGE = 1 << 20


def _child(argv: list[str], env: dict[str, str], cwd: str, log_fd: int, close: list[int]) -> None:
    """In the forked child: become the step process, run the launcher, never return."""
    code = 1
    try:
        os.setsid()
        for fd in close:  # the server's socket and wakeup pipe are not the step's business
            os.close(fd)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(null)
        os.close(log_fd)
        # Line-buffered text streams on the new descriptors, as PYTHONUNBUFFERED gives a new interpreter.
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
        )
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = [argv[0], *argv[3:]]
        code = launch.main(argv[3:])
    except SystemExit as stop:
        if stop.code is None:
            code = 0
        elif isinstance(stop.code, int):
            code = stop.code
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:  # the step's own failure: a traceback in its log, exit 1
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code if isinstance(code, int) else 1)


def _send(sock: socket.socket, message: dict[str, object]) -> None:
    sock.send(json.dumps(message).encode())


def serve(sock: socket.socket) -> None:
    """Answer spawn requests until the client hangs up."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that SIGCHLD writes to the wakeup fd
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the client decides when steps stop
    children: set[int] = set()
    try:
        _loop(sock, wake_r, wake_w, children)
    finally:
        signal.set_wakeup_fd(-1)
        _stop_children(children)


def _stop_children(children: set[int], grace: float = 3.0) -> None:
    """The client (the controller) is gone: its steps go too, process groups and all (no orphans)."""
    import time

    for pid in children:
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while children and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            children.discard(pid)
        else:
            time.sleep(0.05)
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _loop(sock: socket.socket, wake_r: int, wake_w: int, children: set[int]) -> None:
    """Answer spawn requests and report exits until the client hangs up."""
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        while children:  # reap every child that ended
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children.discard(pid)
            _send(sock, {"op": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})
        if sock not in ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 1)
        except OSError:
            return
        if not data:
            return  # the client went away
        request = json.loads(data)
        if request.get("op") != "spawn" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            _send(sock, {"op": "error", "id": request.get("id"), "message": "bad request"})
            continue
        log_fd = fds[0]
        try:
            pid = os.fork()
        except OSError as err:
            os.close(log_fd)
            _send(sock, {"op": "error", "id": request["id"], "message": f"fork failed: {err}"})
            continue
        if pid == 0:
            _child(request["argv"], request["env"], request["cwd"], log_fd, [sock.fileno(), wake_r, wake_w])
        os.close(log_fd)
        children.add(pid)
        _send(sock, {"op": "started", "id": request["id"], "pid": pid})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m workbench.runtime.forkserver FD", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(args[0]))
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
