#!/usr/bin/env python3
"""Start and stop a real Kubernetes control plane on loopback for tests and local experiments.

usage: hack/controlplane.py up [--dir DIR] [--nodes N]   # prints the kubeconfig path, keeps running
       hack/controlplane.py up --node real [--dir DIR]  # the plane + a real kubelet node (hack/realnode.py)
       hack/controlplane.py down --dir DIR              # stops a plane (or real node) started with --dir DIR

Options for experiments (the defaults are what the tests use): --bind-address, --san (repeatable),
--service-cidr.

The binaries come from hack/build-control-plane.sh (built from Go modules, cached outside the
repo). Everything binds 127.0.0.1 on free ports; certificates are generated per run; RBAC is on;
service-account tokens work (the apiserver signs them, kube-controller-manager creates the
default accounts). kwok marks fake nodes Ready and pods Running/Ready, so Deployments really roll
out without a kubelet. Nothing here ever dials a non-loopback address: fake pod IPs are never used.

hack/realnode.py starts a plane with `bind_address` on its pod bridge, extra serving-certificate
SANs, its own service CIDR, `kwok=False` and `kubelet_client=True` (the apiserver authenticates to
the real kubelet with a client certificate and reaches it by its InternalIP).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
ADMIN_TOKEN_USER = "quantops-admin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_binaries() -> Path:
    """Run the (idempotent, cached) build and return its bin directory."""
    out = subprocess.run(
        ["bash", str(HERE / "build-control-plane.sh")], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _san(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def generate_certs(cert_dir: Path, extra_sans: Sequence[str] = ()) -> None:
    """A throwaway CA, the apiserver's serving pair and the service-account signing key.

    `extra_sans` (IP addresses or DNS names) are added to localhost and 127.0.0.1."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("quantops-test-ca", ca_key, None, ca=True)
    (cert_dir / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(cert_dir / "ca.key", ca_key)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    sans += [_san(v) for v in extra_sans if v not in ("localhost", "127.0.0.1")]
    srv = _cert("kube-apiserver", srv_key, (ca.subject, ca_key), sans=sans)
    (cert_dir / "apiserver.crt").write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    _write_key(cert_dir / "apiserver.key", srv_key)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(cert_dir / "sa.key", sa_key)
    (cert_dir / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def client_cert(cert_dir: Path, name: str, common_name: str, organization: str) -> tuple[Path, Path]:
    """A client certificate signed by the plane's CA (generate_certs first); returns (crt, key)."""
    ca = x509.load_pem_x509_certificate((cert_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((cert_dir / "ca.key").read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the plane's CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    crt_path, key_path = cert_dir / f"{name}.crt", cert_dir / f"{name}.key"
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return crt_path, key_path


def kubeconfig_text(server: str, ca_file: Path, token: str, user: str = "admin") -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "quantops-test",
                    "cluster": {"server": server, "certificate-authority": str(ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "quantops-test", "context": {"cluster": "quantops-test", "user": user}}],
            "current-context": "quantops-test",
        },
        indent=2,
    )


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok.

    The defaults are the loopback test plane. A real node (hack/realnode.py) sets `bind_address`
    (the apiserver binds and advertises there), `extra_sans`, `service_cidr`, `kwok=False` (no
    fake nodes) and `kubelet_client=True`."""

    workdir: Path
    bin_dir: Path
    nodes: int = 1
    server: str = ""
    token: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    bind_address: str = "127.0.0.1"
    extra_sans: list[str] = field(default_factory=list)
    service_cidr: str = "10.0.0.0/24"
    kwok: bool = True
    kubelet_client: bool = False
    args: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "ca.crt"

    def _spawn(self, name: str, args: list[str]) -> None:
        self.args[name] = list(args)
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.procs[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.workdir
        )
        (self.workdir / f"{name}.pid").write_text(str(self.procs[name].pid))

    def _wait(self, name: str, check: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
            try:
                if check():  # type: ignore[operator]
                    return
            except Exception as e:  # readiness polling: any failure means "not yet"
                last = repr(e)
            time.sleep(0.25)
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s ({last}): {self.tail(name)}")

    def tail(self, name: str, n: int = 3000) -> str:
        p = self.workdir / f"{name}.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    def _get(self, url: str, *, tls: bool) -> int:
        ctx = ssl.create_default_context(cafile=str(self.ca_file)) if tls else None
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"} if tls else {})
        with urllib.request.urlopen(req, timeout=2, context=ctx) as r:
            return int(r.status)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            text=True,
            capture_output=True,
            check=check,
            timeout=120,
        )

    def start(self, timeout: float = 120.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        certs = self.workdir / "certs"
        generate_certs(certs, self.extra_sans)
        self.token = os.urandom(16).hex()
        (self.workdir / "tokens.csv").write_text(f'{self.token},{ADMIN_TOKEN_USER},1000,"system:masters"\n')
        etcd_port, etcd_peer, api_port, sched_port = free_port(), free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait("etcd", lambda: self._get(f"{etcd_url}/health", tls=False) == 200, 30)
        self.server = f"https://{self.bind_address}:{api_port}"
        extra: list[str] = []
        if self.bind_address != "127.0.0.1":
            extra.append(f"--advertise-address={self.bind_address}")
        if self.kubelet_client:
            crt, key = client_cert(certs, "kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
            extra += [
                f"--kubelet-client-certificate={crt}",
                f"--kubelet-client-key={key}",
                "--kubelet-preferred-address-types=InternalIP",
            ]
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'apiserver.crt'}",
                f"--tls-private-key-file={certs / 'apiserver.key'}",
                f"--secure-port={api_port}",
                f"--bind-address={self.bind_address}",
                f"--service-cluster-ip-range={self.service_cidr}",
                "--allow-privileged=true",
                "--authorization-mode=RBAC",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                f"--service-account-issuer=https://127.0.0.1:{api_port}",
                f"--service-account-key-file={certs / 'sa.pub'}",
                f"--service-account-signing-key-file={certs / 'sa.key'}",
                f"--client-ca-file={certs / 'ca.crt'}",
                *extra,
                "--v=1",
            ],
        )
        self.kubeconfig.write_text(kubeconfig_text(self.server, self.ca_file, self.token))
        self._wait("kube-apiserver", lambda: self._get(f"{self.server}/readyz", tls=True) == 200, timeout)
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                f"--service-account-private-key-file={certs / 'sa.key'}",
                f"--root-ca-file={certs / 'ca.crt'}",
                "--controllers=*",
                "--node-monitor-grace-period=40s",
                "--node-monitor-period=5s",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
        )
        if self.kwok:
            self._start_kwok(timeout)
        # The default ServiceAccount appears once kube-controller-manager runs; pods need it.
        self._wait(
            "kube-controller-manager",
            lambda: (
                self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0
            ),
            timeout,
        )
        self._write_state()

    def _start_kwok(self, timeout: float) -> None:
        self._spawn(
            "kwok",
            [
                str(self.bin_dir / "kwok"),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={self.bin_dir / 'kwok-stages.yaml'}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-lease-duration-seconds=40",
                "--cidr=10.0.0.1/24",
                "--node-ip=10.0.0.1",
            ],
        )
        for i in range(self.nodes):
            self.kubectl("apply", "-f", "-", input=json.dumps(fake_node(f"kwok-node-{i}")))
        self._wait(
            "kwok",
            lambda: (
                self.kubectl(
                    "wait", "--for=condition=Ready", "node", "--all", "--timeout=2s", check=False
                ).returncode
                == 0
            ),
            timeout,
        )

    def _write_state(self) -> None:
        (self.workdir / "state.json").write_text(
            json.dumps(
                {
                    "server": self.server,
                    "owner": os.getpid(),
                    "pids": {k: p.pid for k, p in self.procs.items()},
                }
            )
        )

    def stop(self) -> None:
        for name in ["kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]:
            self.stop_component(name)

    def stop_component(self, name: str, timeout: float = 15.0) -> None:
        """Stop one process of the plane (SIGTERM, SIGKILL after `timeout` s); a no-op when not running."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def start_component(self, name: str, timeout: float = 60.0) -> None:
        """Start a stopped process again with the flags it first ran with (same ports, same etcd).

        For kube-apiserver this waits for /readyz."""
        if name in self.procs and self.procs[name].poll() is None:
            return
        self._spawn(name, self.args[name])
        if name == "kube-apiserver":
            self._wait(name, lambda: self._get(f"{self.server}/readyz", tls=True) == 200, timeout)
        if (self.workdir / "state.json").exists():
            self._write_state()


@contextlib.contextmanager
def operator_process(
    plane: ControlPlane,
    namespace: str,
    *,
    kubeconfig: Path | None = None,
    resync_seconds: float = 1.0,
    log_name: str = "operator",
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m quantops_operator` against this plane, alive (liveness 200) until the block ends.

    A subprocess, not kopf's in-thread KopfRunner: CPython 3.11's parser is not safe against
    concurrent imports from two threads (pytest's assertion rewriter + kopf), and a process is
    what ships.
    """
    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig or plane.kubeconfig),
        "QUANTOPS_RESYNC_SECONDS": str(resync_seconds),
    }
    log_path = plane.workdir / f"{log_name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quantops_operator",
                "--namespace",
                namespace,
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not _http_ok(f"http://127.0.0.1:{port}/healthz"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"operator did not become alive: {log_path.read_text()[-3000:]}")
                time.sleep(0.2)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return int(r.status) == 200
    except OSError:
        return False


def fake_node(name: str) -> dict[str, object]:
    """A Node kwok manages (annotation selector); allocatable is large so pod counts never bind."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        },
    }


def stop_dir(workdir: Path) -> None:
    """Stop every process recorded in a plane's state file (used by `down`)."""
    state = json.loads((workdir / "state.json").read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(state["owner"]), signal.SIGTERM)  # the `up` process stops its children itself
    for pid in reversed(list(state["pids"].values())):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 15
    for pid in state["pids"].values():
        while time.monotonic() < deadline:
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["up", "down"])
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--nodes", type=int, default=1, help="kwok fake nodes (not with --node real)")
    ap.add_argument(
        "--node",
        choices=["kwok", "real"],
        default="kwok",
        help="real: a kubelet + containerd + kube-proxy node on a pod bridge (hack/realnode.py)",
    )
    ap.add_argument("--bind-address", default="127.0.0.1", help="apiserver bind/advertise address")
    ap.add_argument("--san", action="append", default=[], help="extra serving-certificate SAN (repeatable)")
    ap.add_argument("--service-cidr", default="10.0.0.0/24", help="service CIDR (kwok plane)")
    ns = ap.parse_args(argv)
    if ns.command == "down":
        if ns.dir is None:
            ap.error("down needs --dir")
        if (ns.dir / "realnode.json").exists():
            import realnode  # hack/realnode.py, next to this file

            realnode.stop_dir(ns.dir)
        else:
            stop_dir(ns.dir)
        shutil.rmtree(ns.dir, ignore_errors=True)
        return 0
    if ns.node == "real":
        import realnode

        return int(realnode.up(ns.dir))
    workdir = ns.dir or Path(tempfile.mkdtemp(prefix="quantops-cp-"))
    plane = ControlPlane(
        workdir=workdir,
        bin_dir=build_binaries(),
        nodes=ns.nodes,
        bind_address=ns.bind_address,
        extra_sans=ns.san,
        service_cidr=ns.service_cidr,
    )
    try:
        plane.start()
    except Exception:
        plane.stop()
        raise
    print(f"kubeconfig: {plane.kubeconfig}", flush=True)
    print(f"stop with: hack/controlplane.py down --dir {workdir}  (or Ctrl-C)", flush=True)
    try:
        wait_for_stop_signal()
    finally:
        plane.stop()
    return 0


def wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM (Ctrl-C, or `down` signalling the owner process)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    sys.exit(main())
