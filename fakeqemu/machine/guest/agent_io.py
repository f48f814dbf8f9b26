"""The guest agent's commands that act inside the guest: exec (scripted), files (an in-memory file system),
users and SSH keys (fakeqemu.machine.guest.agent runs them)."""

from __future__ import annotations

from typing import Any

from fakeqemu.machine.guest.agent import (
    READ_COUNT_DEFAULT,
    READ_COUNT_MAX,
    ExecResult,
    GuestAgent,
    OpenFile,
    _b64,
    _unb64,
)
from fakeqemu.machine.guest.agent import command as _cmd
from fakeqemu.qmp.errors import GenericError

# --- exec ------------------------------------------------------------------------------------------------


def _run_script(a: GuestAgent, path: str, argv: list[str], stdin: bytes) -> ExecResult:
    scripted = a.scripts.get(" ".join([path, *argv])) or a.scripts.get(path)
    if scripted is not None:
        return scripted
    base = path.rsplit("/", 1)[-1]
    if base == "echo":
        return ExecResult(0, (" ".join(argv) + "\n").encode())
    if base == "cat":
        return ExecResult(0, stdin if not argv else b"".join(bytes(a.fs.get(p, b"")) for p in argv))
    if base in ("true", "sync"):
        return ExecResult(0)
    if base == "false":
        return ExecResult(1)
    if base == "hostname":
        return ExecResult(0, f"{a.host_name}\n".encode())
    return ExecResult(127, b"", f"{base}: command not found\n".encode())


@_cmd("guest-exec")
def _exec(a: GuestAgent, args: dict[str, Any]) -> Any:
    stdin = _unb64(args["input-data"]) if "input-data" in args else b""
    result = _run_script(a, args["path"], list(args.get("arg", [])), stdin)
    capture = args.get("capture-output", False)
    if capture is False or capture == "none":
        result = ExecResult(result.exitcode)
    pid = a.next_pid
    a.next_pid += 1
    a.execs[pid] = result
    a.actions.append(("exec", args["path"]))
    return {"pid": pid}


@_cmd("guest-exec-status")
def _exec_status(a: GuestAgent, args: dict[str, Any]) -> Any:
    result = a.execs.pop(args["pid"], None)
    if result is None:
        raise GenericError("Invalid parameter 'pid'")
    out: dict[str, Any] = {"exited": True, "exitcode": result.exitcode}
    if result.out:
        out["out-data"] = _b64(result.out)
    if result.err:
        out["err-data"] = _b64(result.err)
    return out


# --- files -----------------------------------------------------------------------------------------------

_MODES = {"r", "rb", "r+", "rb+", "r+b", "w", "wb", "w+", "wb+", "w+b", "a", "ab", "a+", "ab+", "a+b"}


def _handle(a: GuestAgent, handle: int) -> OpenFile:
    f = a.files.get(handle)
    if f is None:
        raise GenericError(f"handle '{handle}' has not been found")
    return f


@_cmd("guest-file-open")
def _file_open(a: GuestAgent, args: dict[str, Any]) -> Any:
    path, mode = args["path"], args.get("mode", "r")
    if mode not in _MODES:
        raise GenericError(f"invalid file open mode '{mode}'")
    if mode[0] == "r" and path not in a.fs:
        raise GenericError(f"failed to open file '{path}' (mode: '{mode}'): No such file or directory")
    if mode[0] == "w" or path not in a.fs:
        a.fs[path] = bytearray()
    handle = a.next_handle
    a.next_handle += 1
    a.files[handle] = OpenFile(path, mode, len(a.fs[path]) if mode[0] == "a" else 0)
    return handle


@_cmd("guest-file-close")
def _file_close(a: GuestAgent, args: dict[str, Any]) -> Any:
    _handle(a, args["handle"])
    del a.files[args["handle"]]
    return {}


@_cmd("guest-file-flush")
def _file_flush(a: GuestAgent, args: dict[str, Any]) -> Any:
    _handle(a, args["handle"])
    return {}


@_cmd("guest-file-read")
def _file_read(a: GuestAgent, args: dict[str, Any]) -> Any:
    f = _handle(a, args["handle"])
    count = args.get("count", READ_COUNT_DEFAULT)
    if count < 0 or count > READ_COUNT_MAX:
        raise GenericError(f"value '{count}' is invalid for argument count")
    data = bytes(a.fs.get(f.path, b"")[f.pos : f.pos + count])
    f.pos += len(data)
    return {"count": len(data), "buf-b64": _b64(data), "eof": len(data) < count or count == 0}


@_cmd("guest-file-write")
def _file_write(a: GuestAgent, args: dict[str, Any]) -> Any:
    f = _handle(a, args["handle"])
    data = _unb64(args["buf-b64"])
    count = args.get("count", len(data))
    if count < 0 or count > len(data):
        raise GenericError(f"value '{count}' is invalid for argument count")
    buf = a.fs.setdefault(f.path, bytearray())
    if f.mode[0] == "a":
        f.pos = len(buf)
    buf[f.pos : f.pos + count] = data[:count]
    f.pos += count
    return {"count": count, "eof": False}


@_cmd("guest-file-seek")
def _file_seek(a: GuestAgent, args: dict[str, Any]) -> Any:
    f = _handle(a, args["handle"])
    whence = args["whence"]
    codes = {"set": 0, "cur": 1, "end": 2}
    code = codes[whence] if isinstance(whence, str) else whence
    if code not in (0, 1, 2):
        raise GenericError(f"invalid whence code {code}")
    size = len(a.fs.get(f.path, b""))
    base = (0, f.pos, size)[code]
    f.pos = max(0, base + args["offset"])
    return {"position": f.pos, "eof": f.pos >= size}


# --- users and keys --------------------------------------------------------------------------------------


def _user(a: GuestAgent, username: str) -> None:
    if username not in a.ssh_keys:
        raise GenericError(f"failed to lookup user '{username}': Success")


@_cmd("guest-set-user-password")
def _set_password(a: GuestAgent, args: dict[str, Any]) -> Any:
    password = _unb64(args["password"]).decode("utf-8", "replace")
    username = args["username"]
    if not args["crypted"] and (":" in password or "\n" in password):
        raise GenericError("forbidden characters in raw password")
    if ":" in username or "\n" in username:
        raise GenericError("forbidden characters in username")
    if username not in a.ssh_keys:
        raise GenericError("child process has failed to set user password")
    a.passwords[username] = (password, args["crypted"])
    a.actions.append(("set-user-password", username))
    return {}


def _check_keys(keys: list[str]) -> None:
    for key in keys:
        if not key or "\n" in key:
            raise GenericError(f"invalid OpenSSH public key: '{key}'")


def _home(username: str) -> str:
    return "/root" if username == "root" else f"/home/{username}"


@_cmd("guest-ssh-get-authorized-keys")
def _ssh_get(a: GuestAgent, args: dict[str, Any]) -> Any:
    _user(a, args["username"])
    keys = a.ssh_keys[args["username"]]
    if keys is None:
        path = f"{_home(args['username'])}/.ssh/authorized_keys"
        why = f"Failed to open file \u201c{path}\u201d: No such file or directory"
        raise GenericError(f"failed to read '{path}': {why}")
    return {"keys": list(keys)}


@_cmd("guest-ssh-add-authorized-keys")
def _ssh_add(a: GuestAgent, args: dict[str, Any]) -> Any:
    _user(a, args["username"])
    _check_keys(args["keys"])
    keys = [] if args.get("reset") else list(a.ssh_keys[args["username"]] or [])
    keys.extend(k for k in args["keys"] if k not in keys)
    a.ssh_keys[args["username"]] = keys
    return {}


@_cmd("guest-ssh-remove-authorized-keys")
def _ssh_remove(a: GuestAgent, args: dict[str, Any]) -> Any:
    _user(a, args["username"])
    _check_keys(args["keys"])
    a.ssh_keys[args["username"]] = [k for k in a.ssh_keys[args["username"]] or [] if k not in args["keys"]]
    return {}
