"""The confinement of a `code` node's child process, applied by the child to itself before
the snippet runs (code_runner.py; standard library only). Each layer is a kernel
mechanism, not a Python-level check, so ctypes or any other way around Python does not get
around it:

- `rlimits`: address space, CPU seconds, open files (64), file size (64 MiB), processes.
- `seccomp` (libseccomp): no sockets (no network, whatever the protocol), no exec, no new
  processes (fork, vfork, clone without CLONE_THREAD; threads stay allowed), no ptrace,
  process_vm_*, mount, unshare, setns, keyctl, bpf, perf_event_open.
- `landlock`: the file system is the Python standard library (read) and the scratch
  directory (read and write), nothing else: not the worker's files, /proc (so not the
  worker's environment or memory), /etc or /home; no TCP bind or connect; no signals to
  processes outside the sandbox.
- `netns`: a network namespace of its own (root or user namespaces only), a second wall
  against the network.

`apply(mode, workdir)` returns the layers applied and why the others were not.
docs/nodes.md (code) says what holds where a layer is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import resource
import sys
import sysconfig

OPEN_FILES = 64
FILE_BYTES = 64 * 1024 * 1024
REQUIRED = ("rlimits", "seccomp", "landlock")  # what `strict` insists on

_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_CMP_MASKED_EQ = 7
_CLONE_THREAD = 0x00010000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_NO_NEW_PRIVS = 38
_O_PATH = getattr(os, "O_PATH", 0o10000000)

# x86_64 and aarch64 share these (the generic syscall table numbers landlock identically).
_LANDLOCK_CREATE_RULESET = 444
_LANDLOCK_ADD_RULE = 445
_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_VERSION = 1
_LANDLOCK_PATH_BENEATH = 1
# Access rights by the ABI version that introduced them.
_FS_BY_ABI = {1: (1 << 13) - 1, 2: 1 << 13, 3: 1 << 14, 5: 1 << 15}
_FS_READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir
_NET_TCP = 0b11  # bind, connect (ABI 4)
_SCOPES = 0b11  # abstract unix sockets, signals (ABI 6)

_DENIED_SYSCALLS = (
    "socket",
    "execve",
    "execveat",
    "fork",
    "vfork",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "init_module",
    "finit_module",
    "pivot_root",
    "chroot",
)


class _ArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _fail(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


def _rlimits(memory_bytes: int | None, cpu_seconds: int | None) -> None:
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if cpu_seconds:
        # A backstop for an orphaned child; the parent enforces wall time itself.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_BYTES, FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _netns(libc: ctypes.CDLL) -> None:
    if libc.unshare(_CLONE_NEWNET) == 0:
        return
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        raise _fail("unshare")


def _landlock(libc: ctypes.CDLL, workdir: str) -> None:
    abi = libc.syscall(_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_VERSION)
    if abi < 0:
        raise _fail("landlock")
    handled_fs = 0
    for version, bits in _FS_BY_ABI.items():
        if abi >= version:
            handled_fs |= bits
    fields = [handled_fs]
    if abi >= 4:
        fields.append(_NET_TCP)
    if abi >= 6:
        fields.append(_SCOPES)
    attr = (ctypes.c_uint64 * len(fields))(*fields)
    ruleset = libc.syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if ruleset < 0:
        raise _fail("landlock ruleset")
    try:
        read = _FS_READ & handled_fs
        paths = {sysconfig.get_paths()[k]: read for k in ("stdlib", "platstdlib")}
        # lib-dynload, the interpreter's and the system's shared libraries, time zones.
        for shared in (os.path.join(sys.base_prefix, "lib"), "/lib", "/usr/lib", "/lib64"):
            paths[shared] = read
        paths["/usr/share/zoneinfo"] = read
        paths["/dev/null"] = read | (1 << 1)  # read and write the file
        paths[workdir] = handled_fs
        for path, access in paths.items():
            if not os.path.exists(path):
                continue
            fd = os.open(path, _O_PATH | os.O_CLOEXEC)
            try:
                if not os.path.isdir(path):
                    access &= (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)
                rule = _PathBeneath(access, fd)
                if libc.syscall(_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_PATH_BENEATH,
                                ctypes.byref(rule), 0) != 0:  # fmt: skip
                    raise _fail(f"landlock rule for {path}")
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _fail("no_new_privs")
        if libc.syscall(_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            raise _fail("landlock restrict")
    finally:
        os.close(ruleset)


def _seccomp(libc: ctypes.CDLL) -> None:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise OSError(errno.ENOENT, f"libseccomp is not installed ({exc})") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = (ctypes.c_uint32,)
    lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    lib.seccomp_rule_add_array.argtypes = (
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    )
    lib.seccomp_load.argtypes = (ctypes.c_void_p,)
    lib.seccomp_release.argtypes = (ctypes.c_void_p,)
    ctx = lib.seccomp_init(_SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError(errno.EINVAL, "seccomp_init failed")

    def deny(syscall: str, code: int, *conditions: _ArgCmp) -> None:
        number = lib.seccomp_syscall_resolve_name(syscall.encode())
        if number < 0:
            return  # not a syscall on this architecture
        array = (_ArgCmp * len(conditions))(*conditions) if conditions else None
        action = 0x00050000 | (code & 0xFFFF)  # SCMP_ACT_ERRNO(code)
        if lib.seccomp_rule_add_array(ctx, action, number, len(conditions), array) != 0:
            raise OSError(errno.EINVAL, f"seccomp rule for {syscall}")

    try:
        for syscall in _DENIED_SYSCALLS:
            deny(syscall, errno.EPERM)
        # A new process, not a thread: clone without CLONE_THREAD. clone3 hides its flags
        # in memory, so it is refused as unknown and the C library falls back to clone.
        deny("clone", errno.EPERM, _ArgCmp(0, _SCMP_CMP_MASKED_EQ, _CLONE_THREAD, 0))
        deny("clone3", errno.ENOSYS)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _fail("no_new_privs")
        if lib.seccomp_load(ctx) != 0:
            raise OSError(errno.EPERM, "seccomp_load failed")
    finally:
        lib.seccomp_release(ctx)


def apply(
    mode: str, workdir: str, memory_bytes: int | None, cpu_seconds: int | None
) -> tuple[list[str], dict[str, str]]:
    """Confine this process (mode `off`: resource limits only). The layers applied, and
    for each layer not applied, why."""
    applied: list[str] = []
    missing: dict[str, str] = {}
    _rlimits(memory_bytes, cpu_seconds)
    applied.append("rlimits")
    if mode == "off":
        return applied, missing
    libc = _libc()
    # The network namespace first: seccomp then refuses unshare itself.
    for layer, confine in (
        ("netns", lambda: _netns(libc)),
        ("landlock", lambda: _landlock(libc, workdir)),
        ("seccomp", lambda: _seccomp(libc)),
    ):
        try:
            confine()
        except (OSError, AttributeError) as exc:
            missing[layer] = str(exc)
        else:
            applied.append(layer)
    return applied, missing
