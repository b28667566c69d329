#!/usr/bin/env python3
"""A real Kubernetes node on this machine for CI: pods that really run.

usage: hack/controlplane.py up --node real [--dir DIR]   # plane + real node; prints the kubeconfig
       hack/controlplane.py down --dir DIR               # stops it (also after a crashed session)

`RealNode(workdir, ...).start()` brings up, in this order:
  1. a Linux bridge (BRIDGE) with the gateway address of the pod subnet (POD_CIDR), a host route
     for the service CIDR onto it, and one iptables chain (FORWARD_CHAIN) that accepts traffic
     within the bridge and drops everything between the pod subnet and any other interface;
  2. a control plane (controlplane.ControlPlane, no kwok) whose kube-apiserver binds and
     advertises on the bridge gateway, so pods reach it through the `kubernetes` Service;
  3. Debian's containerd (1.6) with a private root, state, socket and config, the locally built
     pause image as sandbox image, Debian runc and CNI plugins (bridge + host-local + portmap);
     the pause image and the project's images (docker save | ctr images import) are imported;
  4. kubelet and kube-proxy (iptables mode) built by hack/build-node.sh;
  5. the StorageClass STORAGE_CLASS (default class, Immediate binding) served by a small
     provisioner thread that makes a hostPath PersistentVolume under the workdir for every claim.

Pods get routes to the pod subnet and the service CIDR only (no default route) and forwarding
from the pod subnet to any other interface is dropped: nothing leaves the machine. There is no
DNS: clusterDNS is unset and kubelet's resolvConf is empty, so a pod's resolv.conf names no
reachable server (Services by ClusterIP or the KUBERNETES_SERVICE_* variables, not by name).
One real node per machine at a time (a lock in /run); `stop()` — or `stop_dir()` after a crash —
removes every process, mount, cgroup, iptables rule, interface and sysctl change it made.

containerd's root (content + unpacked images) is kept between sessions in
$QUANTOPS_CACHE/node/containerd-<version>-root (no containers are left in it), so an unchanged
image is imported once; `RealNode(image_root=None)` uses a fresh one under the workdir instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import io
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane import ControlPlane, build_binaries, wait_for_stop_signal

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

BRIDGE = "qo-br0"
POD_CIDR = "10.213.0.0/24"
GATEWAY = "10.213.0.1"  # the bridge's address: node IP, apiserver address
SERVICE_CIDR = "10.213.1.0/24"  # the kwok test plane uses 10.0.0.0/24
KUBERNETES_SERVICE_IP = "10.213.1.1"
NODE_NAME = "quantops-realnode"
CNI_NETWORK = "quantops-realnode"
STORAGE_CLASS = "quantops-local"
PROVISIONER = "quantops.dev/local-hostpath"
PAUSE_IMAGE = "quantops.local/pause:3.10"
GC_TRIGGER_REF = "quantops.local/gc-trigger:0"  # tagged and deleted with --sync to run containerd's GC
FORWARD_CHAIN = "QUANTOPS-RN-FWD"
LOCK_FILE = Path("/run/quantops-realnode.lock")
CURRENT_FILE = Path("/run/quantops-realnode.json")  # {"workdir": ..., "owner": pid} of the live node
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTAINER_LOG_LINKS = Path("/var/log/containers")  # kubelet's hard-coded symlink directory
DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")  # kubelet's hard-coded device-plugin socket dir
NO_PULL_SERVER = "http://127.0.0.1:1"  # nothing listens on port 1: a pull fails at once, locally
NO_PULL_REGISTRIES = ("_default", "docker.io")  # _default: every other registry
APISERVER_SANS = [
    GATEWAY,
    KUBERNETES_SERVICE_IP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]


# -- building --------------------------------------------------------------------------------------


def build_node_binaries() -> Path:
    """Run hack/build-node.sh (idempotent, cached) and return its bin directory."""
    out = subprocess.run(["bash", str(HERE / "build-node.sh")], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def app_version() -> str:
    """The Helm chart's appVersion (the image tag the chart uses when `tag` is empty)."""
    text = (REPO / "helm" / "quantops" / "Chart.yaml").read_text()
    m = re.search(r'^appVersion:\s*"?([^"\s]+)"?', text, re.MULTILINE)
    return m.group(1) if m else "dev"


def project_images() -> dict[str, str]:
    """The refs the chart (values.yaml, ci/dev-values.yaml) and the operator (DEFAULT_IMAGE) use."""
    v = app_version()
    return {
        "agent": "quantops/agent:dev",
        "operator": "quantops/operator:dev",
        "agent-app": f"quantops/agent:{v}",
        "operator-app": f"quantops/operator:{v}",
    }


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def pause_image_archive(pause_bin: Path, out: Path, ref: str = PAUSE_IMAGE) -> None:
    """A docker-archive tarball (`docker save` layout) of a one-file image: /pause, run as 65535.

    `ctr images import` reads it; the digests are computed here, the bytes are reproducible."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.USTAR_FORMAT) as layer:
        _tar_add(layer, "pause", pause_bin.read_bytes(), 0o755)
    layer_bytes = layer_buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535", "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": "hack/realnode.py pause_image_archive"}
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":", 1)[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        _tar_add(tar, config_name, config_bytes)
        _tar_add(tar, layer_name, layer_bytes)
        _tar_add(tar, "manifest.json", json.dumps(manifest).encode())
    tmp.replace(out)


# -- small system helpers --------------------------------------------------------------------------


def _run(
    args: Sequence[str], *, check: bool = True, timeout: float = 60, **kw: Any
) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(args), text=True, capture_output=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({res.returncode}): {(res.stderr or res.stdout)[-2000:]}"
        )
    return res


def _containerd_name(ref: str) -> str:
    """The name containerd stores for a docker-style ref (docker.io/ for a domain-less one)."""
    first = ref.split("/")[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def default_image_root() -> Path:
    """containerd's root kept between sessions (content + unpacked images; containers are removed
    at teardown), so an unchanged image is imported once, not every session."""
    cache = Path(os.environ.get("QUANTOPS_CACHE") or Path.home() / ".cache" / "quantops")
    res = subprocess.run(["containerd", "--version"], text=True, capture_output=True, check=False)
    parts = res.stdout.split()  # "containerd github.com/containerd/containerd 1.6.20~ds1 <package>"
    version = parts[2] if len(parts) > 2 else "unknown"
    return cache / "node" / f"containerd-{re.sub(r'[^A-Za-z0-9.+_-]', '_', version)}-root"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    """Running (a zombie whose parent has not reaped it yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _kill_wait(pid: int, *, group: bool, timeout: float = 10.0) -> None:
    """SIGTERM (the process group when `group`), SIGKILL after `timeout`."""
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _read_sysctl(name: str) -> str:
    return Path("/proc/sys", name).read_text().strip()


def _write_sysctl(name: str, value: str) -> None:
    Path("/proc/sys", name).write_text(value)


def _mounts_under(prefix: Path) -> list[str]:
    """Mount points at or below `prefix`, deepest first (from /proc/self/mountinfo)."""
    root = str(prefix.resolve())
    out: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].encode().decode("unicode_escape")
        if mp == root or mp.startswith(root + "/"):
            out.append(mp)
    return sorted(set(out), key=lambda p: p.count("/"), reverse=True)


_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2


def unmount_under(prefix: Path) -> list[str]:
    """Lazily unmount everything at or below `prefix` (repeats until nothing is left)."""
    errors: list[str] = []
    for _ in range(10):
        mounts = _mounts_under(prefix)
        if not mounts:
            return []
        errors = []
        for mp in mounts:
            if _libc.umount2(mp.encode(), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                if err not in (22, 2):  # EINVAL: not a mount point any more, ENOENT: gone
                    errors.append(f"{mp}: {os.strerror(err)}")
    left = _mounts_under(prefix)
    return errors or [f"still mounted: {m}" for m in left]


def _iptables(cmd: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run([cmd, "-w", "5", *args], check=check)


def sweep_iptables(prefixes: Sequence[str]) -> None:
    """Delete every rule jumping to a chain named with one of `prefixes`, then those chains.

    For KUBE-* (kube-proxy, kubelet), CNI-* (portmap) and FORWARD_CHAIN, in iptables and
    ip6tables, every table."""
    for cmd in ("iptables", "ip6tables"):
        if shutil.which(cmd) is None:
            continue
        for table in ("filter", "nat", "mangle", "raw"):
            res = _iptables(cmd, "-t", table, "-S", check=False)
            if res.returncode != 0:
                continue
            ours = [
                c.split()[1]
                for c in res.stdout.splitlines()
                if c.startswith("-N ") and c.split()[1].startswith(tuple(prefixes))
            ]
            if not ours:
                continue
            for rule in res.stdout.splitlines():
                parts = shlex.split(rule)
                if parts[:1] == ["-A"] and parts[1] not in ours and "-j" in parts:
                    target = parts[parts.index("-j") + 1]
                    if target in ours:
                        _iptables(cmd, "-t", table, "-D", *parts[1:], check=False)
            for chain in ours:
                _iptables(cmd, "-t", table, "-F", chain, check=False)
            for chain in ours:
                _iptables(cmd, "-t", table, "-X", chain, check=False)


def _cgroup_pids(rel: str) -> set[int]:
    """Every pid in the `rel` trees of all hierarchies (os.walk: cgroups vanish while it looks)."""
    pids: set[int] = set()
    for hierarchy in _listdir(CGROUP_ROOT):
        for dirpath, _dirs, files in os.walk(CGROUP_ROOT / hierarchy / rel):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(x) for x in Path(dirpath, "cgroup.procs").read_text().split())
    return pids


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def kill_cgroup_tree(rel: str = "kubepods", timeout: float = 10.0) -> None:
    """SIGKILL every process in the `rel` cgroup trees (the pods), then remove the cgroups."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = _cgroup_pids(rel)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for hierarchy in _listdir(CGROUP_ROOT):
        for dirpath, _dirs, _files in os.walk(CGROUP_ROOT / hierarchy / rel, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _ours(pid: int | None, marker: str) -> bool:
    """`pid` is alive and its command line mentions `marker` (a path of this node): a recorded
    pid is never signalled after the kernel reused it for something else."""
    return bool(pid) and any(marker.encode() in a for a in _cmdline(int(pid or 0)))


def _procs_with_arg(arg: str) -> list[int]:
    """Pids whose command line contains `arg` as one argument (the shims of one containerd)."""
    out: list[int] = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if arg.encode() in (d / "cmdline").read_bytes().split(b"\0"):
                out.append(int(d.name))
    return out


# -- the node --------------------------------------------------------------------------------------


@dataclass
class RealNode:
    """A control plane plus one real node (containerd + kubelet + kube-proxy) on a pod bridge."""

    workdir: Path
    cp_bin: Path
    node_bin: Path
    docker_images: dict[str, str] = field(default_factory=project_images)
    image_root: Path | None = field(default_factory=default_image_root)  # None: a fresh one per node
    lock_timeout: float = 600.0
    plane: ControlPlane | None = None
    images: dict[str, str] = field(default_factory=dict)  # name -> ref present in containerd
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    _lock_fd: int | None = None
    _state: dict[str, Any] = field(default_factory=dict)
    _state_lock: threading.Lock = field(default_factory=threading.Lock)
    _provisioner: _Provisioner | None = None

    # -- paths
    @property
    def state_file(self) -> Path:
        return self.workdir / "realnode.json"

    @property
    def containerd_sock(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def kubeconfig(self) -> Path:
        assert self.plane is not None
        return self.plane.kubeconfig

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def tail(self, name: str, n: int = 3000) -> str:
        p = self.log(name)
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    # -- lifecycle
    def start(self, timeout: float = 180.0) -> None:
        t0 = time.monotonic()
        self.workdir = self.workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        if len(str(self.containerd_sock)) + len(".ttrpc") >= 104:
            raise RuntimeError(f"workdir path too long for a unix socket: {self.containerd_sock}")
        self._acquire_lock(self.lock_timeout)
        self.timings["lock-wait"] = time.monotonic() - t0
        try:
            cleanup_stale()
            CURRENT_FILE.write_text(json.dumps({"workdir": str(self.workdir), "owner": os.getpid()}))
            self._state = {"owner": os.getpid(), "pids": {}, "sysctl": {}}
            self._save_state()
            self._network_up()
            importer = _Background(self._containerd_up)  # overlaps the plane's start-up
            self.plane = ControlPlane(
                workdir=self.workdir / "plane",
                bin_dir=self.cp_bin,
                nodes=0,
                bind_address=GATEWAY,
                extra_sans=list(APISERVER_SANS),
                service_cidr=SERVICE_CIDR,
                kwok=False,
                kubelet_client=True,
            )
            self._state["plane"] = str(self.plane.workdir)
            self._save_state()
            self.plane.start(timeout=timeout)
            self.timings["plane"] = time.monotonic() - t0
            importer.join()
            self.timings["containerd+images"] = importer.elapsed
            t1 = time.monotonic()
            self._kubelet_up()
            self._kube_proxy_up()
            self.wait_node_ready(timeout)
            self.timings["kubelet-to-ready"] = time.monotonic() - t1
            self._storage_up()
            self.timings["start"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Tear everything down; idempotent, leaves the machine as it found it.

        Refuses (RuntimeError) when another real node holds the machine lock: its pods are the
        kubepods cgroups this would empty."""
        if self._lock_fd is None:
            self._acquire_lock(0)
        if self._provisioner is not None:
            self._provisioner.stop()
            self._provisioner = None
        errors = teardown(self.workdir, self._state or _load_json(self.state_file), self.procs, self.plane)
        self.procs.clear()
        with contextlib.suppress(FileNotFoundError):
            if json.loads(CURRENT_FILE.read_text()).get("workdir") == str(self.workdir):
                CURRENT_FILE.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if errors:
            raise RuntimeError("real node teardown left: " + "; ".join(errors))

    def _acquire_lock(self, timeout: float) -> None:
        self._lock_fd = machine_lock(timeout)

    def _save_state(self) -> None:
        with self._state_lock:  # the containerd thread writes too
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._state, indent=2))
            tmp.replace(self.state_file)

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with open(self.log(name), "ab") as log:
            proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.workdir,
                env=env,
            )
        self.procs[name] = proc
        self._state["pids"][name] = proc.pid
        self._save_state()
        return proc

    def _wait(self, name: str, check: Callable[[], object], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
            try:
                if check():
                    return
            except Exception as e:  # readiness polling: any failure means "not yet"
                last = repr(e)
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s ({last}): {self.tail(name)}")

    # -- 1. network
    def _network_up(self) -> None:
        for name, want in (("net/ipv4/ip_forward", "1"), ("net/bridge/bridge-nf-call-iptables", "1")):
            if not Path("/proc/sys", name).exists():
                raise RuntimeError(f"/proc/sys/{name} is missing (br_netfilter not available)")
            old = _read_sysctl(name)
            if old != want:
                self._state["sysctl"][name] = old
                self._save_state()
                _write_sysctl(name, want)
        prefix = ipaddress.ip_network(POD_CIDR).prefixlen
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        self._state["bridge"] = BRIDGE
        self._save_state()
        _run(["ip", "addr", "add", f"{GATEWAY}/{prefix}", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        # Service IPs from the host go onto the bridge (kube-proxy's DNAT reroutes), never to eth0.
        _run(["ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE, "src", GATEWAY])
        _iptables("iptables", "-N", FORWARD_CHAIN)
        self._state["iptables"] = True
        self._save_state()
        for rule in (
            ["-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"],  # pod <-> pod, pod -> service -> pod
            ["-i", BRIDGE, "-j", "DROP"],  # pod subnet -> any other interface
            ["-o", BRIDGE, "-j", "DROP"],  # any other interface -> pod subnet
            ["-s", POD_CIDR, "-j", "DROP"],
            ["-d", POD_CIDR, "-j", "DROP"],
        ):
            _iptables("iptables", "-A", FORWARD_CHAIN, *rule)
        _iptables("iptables", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN)
        cni = self.workdir / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        (cni / "net.d" / "10-quantops-realnode.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": CNI_NETWORK,
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                                "routes": [{"dst": SERVICE_CIDR}],
                                "dataDir": str(cni / "ipam"),
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                },
                indent=2,
            )
        )

    # -- 3. containerd + images
    def _containerd_up(self) -> None:
        cd = self.workdir / "containerd"
        cd.mkdir(parents=True, exist_ok=True)
        root = self.image_root or cd / "root"
        root.mkdir(parents=True, exist_ok=True)
        self._state["image_root"] = str(root)
        self._save_state()
        cfg = cd / "config.toml"
        cfg.write_text(
            f"""version = 2
root = "{root}"
state = "{cd / "state"}"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{self.containerd_sock}"

[ttrpc]
  address = "{self.containerd_sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{cd / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{shutil.which("runc") or "runc"}"
        Root = "{cd / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{cd / "hosts.d"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{self.workdir / "cni" / "net.d"}"
    max_conf_num = 1
"""
        )
        # No registry: every pull goes to a closed loopback port and fails at once (ErrImagePull),
        # never to the network. Only images imported below exist on this node.
        for registry in NO_PULL_REGISTRIES:
            (cd / "hosts.d" / registry).mkdir(parents=True, exist_ok=True)
            # containerd 1.6 ignores a `server` without a [host] table (and dials the registry)
            (cd / "hosts.d" / registry / "hosts.toml").write_text(
                f'server = "{NO_PULL_SERVER}"\n\n'
                f'[host."{NO_PULL_SERVER}"]\n  capabilities = ["pull", "resolve"]\n'
            )
        self._start_containerd(cfg)
        if self.ctr("containers", "ls", "-q").stdout.split():
            # Containers of an earlier node in the shared image store (a crashed session): remove
            # them, then restart so the CRI plugin forgets their sandboxes too.
            self._remove_containers()
            _kill_wait(self.procs.pop("containerd").pid, group=True)
            self._start_containerd(cfg)
        stamp_file = root / "quantops-images.json"
        stamp = _load_json(stamp_file)
        pause_tar = self.workdir / "pause-image.tar"
        pause_image_archive(self.node_bin / "pause", pause_tar)
        pause_digest = hashlib.sha256(pause_tar.read_bytes()).hexdigest()
        listed = set(self.ctr("images", "ls", "-q").stdout.split())
        if stamp.get("pause") != pause_digest or _containerd_name(PAUSE_IMAGE) not in listed:
            self.ctr("images", "import", str(pause_tar), timeout=120)
            stamp["pause"] = pause_digest
            stamp_file.write_text(json.dumps(stamp))
        self.images["pause"] = PAUSE_IMAGE
        self._import_docker_images(stamp_file, listed)
        self._prune_images()

    def _prune_images(self) -> None:
        """Keep only the images this node imported in the kept store.

        A re-import moves the names to the new images, but the CRI plugin also names every image
        by its ID (`sha256:...`), which would keep the old layers (about 1 GB per source change)
        forever: every ref that points elsewhere is removed, then a synchronous delete runs
        containerd's garbage collection."""
        rows = [line.split() for line in self.ctr("images", "ls").stdout.splitlines()[1:]]
        wanted = {_containerd_name(r) for r in [PAUSE_IMAGE, *self.docker_images.values()]}
        keep = {row[2] for row in rows if len(row) > 2 and row[0] in wanted}
        stale = [row[0] for row in rows if len(row) > 2 and row[2] not in keep]
        if stale:
            self.ctr("images", "rm", *stale, timeout=120)
        self._collect_garbage()

    def _collect_garbage(self) -> None:
        """Run containerd's garbage collection now and wait for it (a synchronous delete of a
        throw-away tag): no collection is left pending to race an unpack (containerd#3787)."""
        self.ctr("images", "tag", "--force", PAUSE_IMAGE, GC_TRIGGER_REF)
        self.ctr("images", "rm", "--sync", GC_TRIGGER_REF, timeout=300)

    def _start_containerd(self, cfg: Path) -> None:
        self._spawn("containerd", [shutil.which("containerd") or "containerd", "--config", str(cfg)])
        self._wait("containerd", lambda: self.ctr("version", check=False).returncode == 0, 30)

    def _remove_containers(self) -> None:
        ids = self.ctr("containers", "ls", "-q").stdout.split()
        for cid in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
            self.ctr("tasks", "delete", "-f", cid, check=False, timeout=20)
        if ids:
            self.ctr("containers", "rm", *ids, check=False, timeout=60)

    def _docker_save_ctr_import(self, refs: list[str]) -> str:
        """docker save | ctr import of ``refs``; the error text, empty on success."""
        save = subprocess.Popen(["docker", "save", *refs], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert save.stdout is not None
        imp = subprocess.run(
            ["ctr", "--address", str(self.containerd_sock), "-n", "k8s.io", "images", "import", "-"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            timeout=600,
        )
        save.stdout.close()
        save_err = save.communicate(timeout=60)[1]
        if save.returncode != 0 or imp.returncode != 0:
            return f"{save_err.decode()[-1000:]} {imp.stderr[-2000:]}"
        return ""

    def _import_docker_images(self, stamp_file: Path, listed: set[str]) -> None:
        """docker save | ctr import, unless the image store already holds these very images."""
        if not self.docker_images:
            return
        refs = list(dict.fromkeys(self.docker_images.values()))
        ids: dict[str, str] = {}
        for r in refs:
            res = _run(["docker", "image", "inspect", "--format", "{{.Id}}", r], check=False)
            if res.returncode != 0:
                raise RuntimeError(f"{r} is not in the docker daemon (build it: bash hack/build-images.sh)")
            ids[r] = res.stdout.strip()
        stamp = _load_json(stamp_file)
        if stamp.get("docker") == ids and all(_containerd_name(r) in listed for r in refs):
            self.images.update(self.docker_images)
            self.timings["images-imported"] = 0
            return
        # Removing the previous run's containers leaves a collection pending; an unpack that runs
        # while it deletes a shared layer's snapshot fails with "parent snapshot ... does not
        # exist" (seen once in CI). Collect first; if an import still meets it, collect and retry.
        self._collect_garbage()
        error = self._docker_save_ctr_import(refs)
        if error and "does not exist: not found" in error:
            print(f"realnode: import met a collected snapshot, once more: {error[-300:]}", file=sys.stderr)
            self._collect_garbage()
            error = self._docker_save_ctr_import(refs)
        if error:
            raise RuntimeError(f"docker save | ctr import failed: {error}")
        now = set(self.ctr("images", "ls", "-q").stdout.split())
        for name, ref in self.docker_images.items():
            if _containerd_name(ref) not in now:
                raise RuntimeError(f"{ref} not in containerd after import: {sorted(now)}")
            self.images[name] = ref
        stamp = _load_json(stamp_file)
        stamp["docker"] = ids
        stamp_file.write_text(json.dumps(stamp))
        self.timings["images-imported"] = len(refs)

    def ctr(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _run(
            ["ctr", "--address", str(self.containerd_sock), "-n", "k8s.io", *args],
            check=check,
            timeout=timeout,
        )

    # -- 4. kubelet + kube-proxy
    def _kubelet_up(self) -> None:
        assert self.plane is not None
        kd = self.workdir / "kubelet"
        kd.mkdir(parents=True, exist_ok=True)
        (self.workdir / "pod-logs").mkdir(exist_ok=True)
        if "preexisting" not in self._state:  # what teardown may remove: only what kubelet made
            self._state["preexisting"] = {
                str(p): p.exists() for p in (CONTAINER_LOG_LINKS, DEVICE_PLUGINS, DEVICE_PLUGINS.parent)
            }
            self._save_state()
        self.kubelet_port, self.kubelet_healthz = _free_port(GATEWAY), _free_port("127.0.0.1")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": GATEWAY,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.kubelet_healthz,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True, "cacheTTL": "10s"},
                "x509": {"clientCAFile": str(self.plane.ca_file)},
            },
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_sock}",
            "oomScoreAdj": 0,
            "podLogsDir": str(self.workdir / "pod-logs"),
            "failSwapOn": False,
            "resolvConf": "",
            "syncFrequency": "10s",
            "serializeImagePulls": False,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "registerNode": True,
            "volumePluginDir": str(kd / "volume-plugins"),
        }
        (kd / "config.yaml").write_text(json.dumps(config, indent=2))
        self._spawn(
            "kubelet",
            [
                str(self.node_bin / "kubelet"),
                f"--config={kd / 'config.yaml'}",
                f"--kubeconfig={self.plane.kubeconfig}",
                f"--root-dir={kd}",
                f"--cert-dir={kd / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={GATEWAY}",
                "--v=1",
            ],
        )

    def _kube_proxy_up(self) -> None:
        assert self.plane is not None
        healthz, metrics = _free_port("127.0.0.1"), _free_port("127.0.0.1")
        self._spawn(
            "kube-proxy",
            [
                str(self.node_bin / "kube-proxy"),
                f"--kubeconfig={self.plane.kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                "--proxy-mode=iptables",
                f"--cluster-cidr={POD_CIDR}",
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                f"--nodeport-addresses={GATEWAY}/32",
                "--iptables-localhost-nodeports=false",  # leaves net.ipv4.conf.all.route_localnet alone
                f"--healthz-bind-address=127.0.0.1:{healthz}",
                f"--metrics-bind-address=127.0.0.1:{metrics}",
                "--v=1",
            ],
        )
        self.kube_proxy_healthz = healthz

    def wait_node_ready(self, timeout: float = 120.0) -> None:
        def ready() -> bool:
            res = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
            if res.returncode != 0:
                return False
            conds = json.loads(res.stdout).get("status", {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

        self._wait("kubelet", ready, timeout)

    # -- 5. storage
    def _storage_up(self) -> None:
        self.ensure_storage_class(STORAGE_CLASS, PROVISIONER, default=True)
        assert self.plane is not None
        self._provisioner = _Provisioner(self.plane, self.workdir / "volumes")
        self._provisioner.start()

    def ensure_storage_class(self, name: str, provisioner: str, *, default: bool = False) -> None:
        sc = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": name,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"} if default else {},
            },
            "provisioner": provisioner,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(sc))

    def provision_local_pvs(self, storage_class: str, count: int, size: str) -> list[str]:
        """`count` static hostPath PersistentVolumes of `size` in `storage_class` (made if absent).

        Directories under the workdir, mode 0777 (agent pods run as uid 10001). Returns the PV
        names. Not needed for STORAGE_CLASS, whose claims are provisioned dynamically."""
        if self.kubectl("get", "storageclass", storage_class, check=False).returncode != 0:
            self.ensure_storage_class(storage_class, "kubernetes.io/no-provisioner")
        names = []
        for _ in range(count):
            name = f"static-{os.urandom(4).hex()}"
            path = _volume_dir(self.workdir / "volumes", name)
            self.kubectl("apply", "-f", "-", input=json.dumps(_pv(name, path, size, storage_class, None)))
            names.append(name)
        return names

    # -- helpers for tests
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        assert self.plane is not None
        return self.plane.kubectl(*args, input=input, check=check)

    def pod(self, namespace: str, pod: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("-n", namespace, "get", "pod", pod, "-o", "json").stdout))

    def pod_ip(self, namespace: str, pod: str) -> str:
        ip = str(self.pod(namespace, pod).get("status", {}).get("podIP") or "")
        if not ip:
            raise RuntimeError(f"pod {namespace}/{pod} has no IP yet")
        return ip

    def container_status(self, namespace: str, pod: str, container: str) -> dict[str, Any]:
        for cs in self.pod(namespace, pod).get("status", {}).get("containerStatuses") or []:
            if cs["name"] == container:
                return dict(cs)
        return {}

    def kill_container(self, namespace: str, pod: str, container: str = "agent") -> int:
        """SIGKILL the container's main process (as the kernel's OOM killer would); returns its pid."""
        cid = str(self.container_status(namespace, pod, container).get("containerID") or "")
        if not cid.startswith("containerd://"):
            raise RuntimeError(f"{namespace}/{pod}/{container} has no running container ({cid!r})")
        cid = cid.split("://", 1)[1]
        for line in self.ctr("tasks", "ls").stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == cid and parts[2] == "RUNNING":
                pid = int(parts[1])
                os.kill(pid, signal.SIGKILL)
                return pid
        raise RuntimeError(f"no running task for container {cid} of {namespace}/{pod}/{container}")

    def stop_apiserver(self, grace: float = 2.0) -> None:
        """Stop kube-apiserver (etcd, the controllers, the node keep running): SIGTERM, SIGKILL
        after `grace` s — with the kubelet's watches open its graceful shutdown would wait for
        them far longer."""
        assert self.plane is not None
        self.plane.stop_component("kube-apiserver", timeout=grace)

    def start_apiserver(self, timeout: float = 60.0) -> None:
        """Start kube-apiserver again: same flags, same port, same etcd; waits for /readyz."""
        assert self.plane is not None
        self.plane.start_component("kube-apiserver", timeout=timeout)

    def http_get(self, ip: str, port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, bytes]:
        """GET http://ip:port/path for an address on the pod subnet (never anything else)."""
        if ipaddress.ip_address(ip) not in ipaddress.ip_network(POD_CIDR):
            raise ValueError(f"{ip} is not on the real node's pod subnet {POD_CIDR}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://{ip}:{port}{path}", timeout=timeout) as r:
                return int(r.status), bytes(r.read())
        except urllib.error.HTTPError as e:
            return int(e.code), bytes(e.read())


class _Background(threading.Thread):
    """Run `fn` in a thread; join() re-raises its exception."""

    def __init__(self, fn: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.error: BaseException | None = None
        self.elapsed = 0.0
        self.start()

    def run(self) -> None:
        t0 = time.monotonic()
        try:
            self.fn()
        except BaseException as e:
            self.error = e
        self.elapsed = time.monotonic() - t0

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


# -- storage: a hostPath provisioner ---------------------------------------------------------------


def _volume_dir(base: Path, name: str) -> Path:
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path


def _pv(name: str, path: Path, size: str, storage_class: str, claim: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "capacity": {"storage": size},
        "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
        "persistentVolumeReclaimPolicy": "Delete" if claim else "Retain",
        "storageClassName": storage_class,
        "hostPath": {"path": str(path), "type": "Directory"},
    }
    if claim:
        spec["accessModes"] = claim["spec"].get("accessModes") or ["ReadWriteOnce"]
        spec["claimRef"] = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "namespace": claim["metadata"]["namespace"],
            "name": claim["metadata"]["name"],
            "uid": claim["metadata"]["uid"],
        }
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER} if claim else {},
            "labels": {"quantops.dev/realnode": "true"},
        },
        "spec": spec,
    }


class _Provisioner(threading.Thread):
    """Makes a hostPath PV for every claim the PV controller hands to PROVISIONER; deletes the PV
    (and its directory) when a provisioned claim is released. Polls the API every 0.5 s and rides
    out an apiserver that is down (stop_apiserver)."""

    def __init__(self, plane: ControlPlane, base: Path) -> None:
        super().__init__(daemon=True, name="quantops-realnode-provisioner")
        self.plane, self.base = plane, base
        self._halt = threading.Event()
        self.ctx = ssl.create_default_context(cafile=str(plane.ca_file))
        self.errors: list[str] = []

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def _req(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        req = urllib.request.Request(
            self.plane.server + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.plane.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5, context=self.ctx) as r:
            return dict(json.loads(r.read() or b"{}"))

    def run(self) -> None:
        while not self._halt.wait(0.5):
            try:
                self.sync()
            except (OSError, ValueError) as e:  # apiserver down or restarting: try again
                self.errors = [*self.errors[-9:], repr(e)]

    def sync(self) -> None:
        for pvc in self._req("GET", "/api/v1/persistentvolumeclaims")["items"]:
            ann = pvc["metadata"].get("annotations") or {}
            if (
                pvc.get("status", {}).get("phase") == "Pending"
                and not pvc["spec"].get("volumeName")
                and ann.get("volume.kubernetes.io/storage-provisioner") == PROVISIONER
            ):
                name = f"pvc-{pvc['metadata']['uid']}"
                size = pvc["spec"].get("resources", {}).get("requests", {}).get("storage", "1Gi")
                pv = _pv(name, _volume_dir(self.base, name), size, pvc["spec"]["storageClassName"], pvc)
                try:
                    self._req("POST", "/api/v1/persistentvolumes", pv)
                except urllib.error.HTTPError as e:
                    if e.code != 409:
                        raise
        for pv in self._req("GET", "/api/v1/persistentvolumes")["items"]:
            ann = pv["metadata"].get("annotations") or {}
            if ann.get("pv.kubernetes.io/provisioned-by") == PROVISIONER and pv.get("status", {}).get(
                "phase"
            ) in ("Released", "Failed"):
                name = pv["metadata"]["name"]
                with contextlib.suppress(urllib.error.HTTPError):
                    self._req("DELETE", f"/api/v1/persistentvolumes/{name}")
                shutil.rmtree(self.base / name, ignore_errors=True)


# -- teardown (also from a state file after a crash) -----------------------------------------------


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def teardown(
    workdir: Path,
    state: dict[str, Any],
    procs: dict[str, subprocess.Popen[bytes]] | None = None,
    plane: ControlPlane | None = None,
) -> list[str]:
    """Stop the node described by `state` (realnode.json) and undo every change; returns leftovers.

    Order: kubelet and kube-proxy, the pods (every process in the kubepods cgroups), containerd's
    tasks and shims, containerd, mounts under the workdir, cgroups, the plane, iptables chains
    (kube-proxy's, kubelet's, portmap's, ours), the bridge, kubelet's files outside the workdir,
    sysctls."""
    errors: list[str] = []
    procs = procs or {}
    pids: dict[str, int] = {k: int(v) for k, v in (state.get("pids") or {}).items()}
    marker = str(workdir)
    sock = workdir / "containerd" / "containerd.sock"
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    def pid_of(name: str) -> int | None:
        return procs[name].pid if name in procs else pids.get(name)

    def stop_node_daemons() -> None:
        for name in ("kubelet", "kube-proxy"):
            if _ours(pid_of(name), marker):
                _kill_wait(int(pid_of(name) or 0), group=True)

    def remove_containers() -> None:
        if not (_ours(pid_of("containerd"), marker) and sock.exists()):
            return
        ctr = ["ctr", "--address", str(sock), "-n", "k8s.io"]
        res = _run([*ctr, "tasks", "ls", "-q"], check=False, timeout=20)
        for cid in res.stdout.split():  # stopped tasks: deleting them ends their shims cleanly
            _run([*ctr, "tasks", "delete", "-f", cid], check=False, timeout=20)
        ids = _run([*ctr, "containers", "ls", "-q"], check=False, timeout=20).stdout.split()
        if ids:  # the image store may be kept for the next node: no containers in it
            _run([*ctr, "containers", "rm", *ids], check=False, timeout=60)

    def stop_containerd() -> None:
        if _ours(pid_of("containerd"), marker):
            _kill_wait(int(pid_of("containerd") or 0), group=True)
        for pid in _procs_with_arg(str(sock)):  # shims left behind (a crashed containerd)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for p in procs.values():
            with contextlib.suppress(Exception):
                p.wait(timeout=5)

    def unmount() -> None:
        errors.extend(unmount_under(workdir))
        if state.get("image_root"):
            errors.extend(unmount_under(Path(state["image_root"])))

    def remove_cgroups() -> None:
        kill_cgroup_tree("kubepods")  # nothing is left in them: this removes them
        if any((CGROUP_ROOT / h / "kubepods").exists() for h in _listdir(CGROUP_ROOT)):
            errors.append("kubepods cgroups still present")

    def stop_plane() -> None:
        # Before the bridge: the apiserver's own clients dial the bridge address, and without
        # it its shutdown hangs until SIGKILL.
        if plane is not None:
            plane.stop()
        elif state.get("plane"):
            stop_plane_pids(Path(state["plane"]))

    def network() -> None:
        sweep_iptables(["KUBE-", "CNI-", FORWARD_CHAIN])
        if state.get("bridge") and Path("/sys/class/net", str(state["bridge"])).exists():
            _run(["ip", "link", "delete", str(state["bridge"])], check=False)

    def kubelet_files() -> None:
        logs = str(workdir / "pod-logs")
        for name in _listdir(CONTAINER_LOG_LINKS):
            link = CONTAINER_LOG_LINKS / name
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(logs):
                    link.unlink()
        pre = state.get("preexisting") or {}
        with contextlib.suppress(OSError):
            (DEVICE_PLUGINS / "kubelet.sock").unlink()
        for path in (CONTAINER_LOG_LINKS, DEVICE_PLUGINS, DEVICE_PLUGINS.parent):
            if pre.get(str(path)) is False:
                with contextlib.suppress(OSError):
                    path.rmdir()  # only when empty: nothing but what kubelet made was there

    def sysctls() -> None:
        docker_running = any(
            _read_text(Path("/proc", d, "comm")).strip() == "dockerd" for d in _listdir(Path("/proc"))
        )
        for name, old in (state.get("sysctl") or {}).items():
            if name == "net/ipv4/ip_forward" and docker_running:
                continue  # docker needs forwarding; it sets it itself too
            with contextlib.suppress(OSError):
                _write_sysctl(name, str(old))

    steps: list[tuple[str, Callable[[], None]]] = [
        ("kubelet and kube-proxy stopped", stop_node_daemons),
        ("pods killed", lambda: kill_cgroup_tree("kubepods")),
        ("tasks and containers deleted", remove_containers),
        ("containerd and shims stopped", stop_containerd),
        ("unmounted", unmount),
        ("cgroups removed", remove_cgroups),
        ("plane stopped", stop_plane),
        ("iptables and bridge undone", network),
        ("kubelet's files outside the workdir removed", kubelet_files),
        ("sysctls restored", sysctls),
    ]
    for what, fn in steps:  # every step runs, whatever an earlier one hit
        try:
            fn()
        except Exception as e:
            errors.append(f"{what}: {type(e).__name__}: {e}")
            what = f"FAILED {what}: {e!r}"
        with contextlib.suppress(OSError), open(workdir / "logs" / "teardown.log", "a") as f:
            f.write(f"{time.monotonic() - t0:7.2f}s {what}\n")
    return errors


def machine_lock(timeout: float) -> int:
    """The one-real-node-per-machine lock (flock on LOCK_FILE); returns its fd, close to release."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RuntimeError(
                    f"another real node holds {LOCK_FILE} ({_read_text(CURRENT_FILE).strip()}) "
                    f"for more than {timeout:.0f}s"
                ) from None
            time.sleep(0.5)


def stop_plane_pids(plane_dir: Path) -> None:
    """Stop the processes recorded in a plane's state.json that still are that plane's."""
    plane_state = _load_json(plane_dir / "state.json")
    for pid in reversed(list((plane_state.get("pids") or {}).values())):
        if _ours(int(pid), str(plane_dir)):
            _kill_wait(int(pid), group=True)


def cleanup_stale() -> None:
    """Tear down a node whose session died without stopping it (the caller holds the lock)."""
    cur = _load_json(CURRENT_FILE)
    wd = Path(str(cur.get("workdir") or ""))
    if cur and (wd / "realnode.json").exists():
        teardown(wd, _load_json(wd / "realnode.json"))
    with contextlib.suppress(FileNotFoundError):
        CURRENT_FILE.unlink()
    # Leftovers without a state file (killed between steps): the fixed names are ours.
    if Path("/sys/class/net", BRIDGE).exists():
        _run(["ip", "link", "delete", BRIDGE], check=False)
    sweep_iptables([FORWARD_CHAIN])


def stop_dir(workdir: Path) -> None:
    """Stop the real node and plane recorded under `workdir` (hack/controlplane.py down)."""
    workdir = workdir.resolve()
    state = _load_json(workdir / "realnode.json")
    owner = int(state.get("owner") or 0)
    if owner and owner != os.getpid() and (_ours(owner, "controlplane.py") or _ours(owner, str(workdir))):
        os.kill(owner, signal.SIGTERM)  # `up` stops everything itself
        deadline = time.monotonic() + 60
        while _pid_alive(owner) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(owner):
            raise RuntimeError(f"the `up` process {owner} did not stop")
    fd = machine_lock(60)
    try:
        errors = teardown(workdir, state)
        with contextlib.suppress(FileNotFoundError):
            if _load_json(CURRENT_FILE).get("workdir") == str(workdir.resolve()):
                CURRENT_FILE.unlink()
    finally:
        os.close(fd)
    if errors:
        raise RuntimeError("real node teardown left: " + "; ".join(errors))


def up(workdir: Path | None) -> int:
    """`hack/controlplane.py up --node real`: build, start, print the kubeconfig, wait for a signal."""
    wd = workdir or Path(tempfile.mkdtemp(prefix="quantops-rn-"))
    subprocess.run(["bash", str(HERE / "build-images.sh")], check=True, stdout=subprocess.DEVNULL)
    node = RealNode(workdir=wd, cp_bin=build_binaries(), node_bin=build_node_binaries())
    node.start()
    print(f"kubeconfig: {node.kubeconfig}", flush=True)
    print(f"node {NODE_NAME} Ready; pods {POD_CIDR} on {BRIDGE}, services {SERVICE_CIDR}", flush=True)
    print(f"stop with: hack/controlplane.py down --dir {wd}  (or Ctrl-C)", flush=True)
    try:
        wait_for_stop_signal()
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.stderr.write("use: hack/controlplane.py up --node real [--dir DIR] | down --dir DIR\n")
    sys.exit(2)
