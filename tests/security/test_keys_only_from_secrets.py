"""Exchange keys never travel in a spec: the API server and `quantops validate` refuse them alike,
naming the field; a venue-sim's accounts and an agent's keys are reached only through Secrets
(mounted or injected by the kubelet on Kubernetes, files under the state dir for `quantops up`).

Attack: on main at 7d63ac6 the samples put ``apiKey``/``apiSecret`` in ``spec.config``; from there
they were copied into the agent's ConfigMap, kopf's last-handled-configuration annotation and the
config file `quantops up` wrote. Every test here fails on that code (the keys were accepted).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from controlplane import ControlPlane

from quantops_api import Agent
from quantops_operator.resources import deployments

REPO = Path(__file__).resolve().parents[2]
QUANTOPS = [sys.executable, "-m", "quantops_local.cli"]

BAD = [
    ("trader", {"apiKey": "k"}, "spec.config.apiKey"),
    ("canary", {"apiSecret": "s"}, "spec.config.apiSecret"),
    ("pipeline", {"apiKey": "k", "apiSecret": "s"}, "spec.config.apiKey"),
]


def _agent(name: str, role: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"role": role, "config": config},
    }


@pytest.mark.cluster
@pytest.mark.parametrize(("role", "config", "field"), BAD)
def test_the_api_server_refuses_keys_in_a_spec_naming_the_field(
    crds_installed: ControlPlane, role: str, config: dict[str, Any], field: str
) -> None:
    body = json.dumps(_agent("keys-in-spec", role, config))
    res = crds_installed.kubectl("apply", "--dry-run=server", "-f", "-", input=body, check=False)
    assert res.returncode != 0, f"{config} was accepted for role {role}"
    assert field in res.stderr and "exchange keys never go in a spec" in res.stderr, res.stderr


@pytest.mark.parametrize(("role", "config", "field"), BAD)
def test_quantops_validate_refuses_keys_in_a_spec_naming_the_field(
    tmp_path: Path, role: str, config: dict[str, Any], field: str
) -> None:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(_agent("keys-in-spec", role, config)))
    cmd = [*QUANTOPS, "validate", "-f", str(tmp_path / "a.yaml")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2, res.stdout
    assert f"Agent/keys-in-spec: {field}: exchange keys never go in a spec" in res.stderr, res.stderr


def test_a_venue_account_secret_inline_is_refused_and_by_reference_is_mounted() -> None:
    venue = {"symbols": [], "apiKeys": [{"key": "k", "secret": "s"}]}
    with pytest.raises(ValueError, match=r"spec\.config\.venue: apiKeys\[0\]\.secret: exchange keys never"):
        Agent.model_validate(_agent("sim", "venue-sim", {"venue": venue}))
    venue["apiKeys"] = [{"secretRef": "acct-a"}, {"secretRef": "acct-b"}]
    sim = Agent.model_validate(_agent("sim", "venue-sim", {"venue": venue}))
    pod = deployments.deployment(sim, 1)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["mountPath"]: secrets[m["name"]] for m in container["volumeMounts"] if m["name"] in secrets}
    assert mounts == {
        "/var/run/quantops/secrets/acct-a": "acct-a",
        "/var/run/quantops/secrets/acct-b": "acct-b",
    }
    assert {"name": "QUANTOPS_SECRETS_DIR", "value": "/var/run/quantops/secrets"} in container["env"]
    # nothing of a key in what the operator writes from the spec
    assert "secret" not in json.dumps(deployments.config_map(sim)["data"]).replace("secretRef", "")


def test_the_samples_carry_no_key_and_quantops_up_makes_the_demo_accounts_private(tmp_path: Path) -> None:
    text = (REPO / "crds" / "samples" / "platform.yaml").read_text()
    for doc in yaml.safe_load_all(text):
        if doc and doc["kind"] == "Agent":
            config = doc["spec"].get("config") or {}
            assert not {"apiKey", "apiSecret"} & set(config), doc["metadata"]["name"]
            for account in (config.get("venue") or {}).get("apiKeys", []):
                assert set(account) == {"secretRef", "balances"}, account
    from quantops_api import parse_all
    from quantops_local import secrets as local_secrets

    agents = [o for o in parse_all([("s", d) for d in yaml.safe_load_all(text) if d]) if isinstance(o, Agent)]
    local_secrets.prepare(tmp_path, agents)
    root = tmp_path / "secrets"
    assert sorted(p.name for p in root.iterdir()) == ["demo-canary-keys", "demo-trader-keys"]
    assert root.stat().st_mode & 0o777 == 0o700
    for entry in root.glob("*/*"):
        assert entry.stat().st_mode & 0o777 == 0o600, entry
    key = (root / "demo-trader-keys" / "apiKey").read_text()
    local_secrets.prepare(tmp_path, agents)  # a restart keeps the accounts the venue knows
    assert (root / "demo-trader-keys" / "apiKey").read_text() == key
    env = local_secrets.agent_env(tmp_path, next(a for a in agents if a.name == "trader"))
    assert env == {"QUANTOPS_EXCHANGE_CREDENTIALS_DIR": str(root / "demo-trader-keys")}


def test_quantops_up_never_invents_a_real_venue_key(tmp_path: Path) -> None:
    """A Secret named only by exchangeSecret (a real venue's keys) must exist: its absence is an
    error naming the field and the files to create, not a random key."""
    from quantops_local import secrets as local_secrets

    trader = Agent.model_validate(_agent("trader", "trader", {"exchangeSecret": "binance-keys"}))
    with pytest.raises(ValueError, match=r"Agent/trader: spec.config.exchangeSecret: Secret 'binance-keys'"):
        local_secrets.prepare(tmp_path, [trader])
    assert not (tmp_path / "secrets" / "binance-keys").exists()


@pytest.mark.parametrize(
    ("url", "agent", "hosts", "refused"),
    [
        ("http://10.0.0.7:8081", "venue-sim", [], False),  # discovered: the platform's own venue-sim
        ("http://127.0.0.1:9000", "", [], False),  # a simulator on this machine
        ("http://localhost:9000", "", [], False),
        ("https://api.binance.com", "", ["api.binance.com"], False),
        ("https://api.binance.com", "", [], True),  # nobody allowed it
        ("http://api.binance.com", "", ["api.binance.com"], True),  # plain http across a network
        ("https://evil.example.com", "", ["api.binance.com"], True),
        ("http://192.0.2.1:8081", "", ["192.0.2.1"], True),
    ],
)
def test_keys_go_only_to_a_discovered_loopback_or_allowed_https_venue(
    url: str, agent: str, hosts: list[str], refused: bool
) -> None:
    from quantops_trading.runtime.discovery import Venue

    reason = Venue(url, "v", agent).refuses_keys(hosts)
    assert (reason is not None) == refused, reason


async def test_a_trader_pointed_at_a_foreign_http_venue_stays_idle_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantops_trading.adapters.ccxt.credentials import API_KEY_ENV, SECRET_ENV
    from quantops_trading.runtime.agent import AgentRuntime
    from quantops_trading.runtime.control import LocalControl
    from quantops_trading.runtime.trader_role import TraderWork

    monkeypatch.setenv("QUANTOPS_STATE_DIR", str(tmp_path))
    work = TraderWork(
        {"venueUrl": "http://192.0.2.1:8081", "venueName": "x", "venueHosts": ["192.0.2.1"]},
        {"strategySpecs": {}, "riskPolicies": {}},
        environ={API_KEY_ENV: "live-key-0123456789", SECRET_ENV: "live-secret-0123456789"},
    )
    rt = AgentRuntime(
        name="trader", role="trader", control=LocalControl("http://127.0.0.1:9", "trader", "0"), work=work
    )
    assert not await work.start(rt)
    assert work.state.startswith("idle: venueUrl http://192.0.2.1") and "venueHosts" in work.state
    assert work.client is None  # no ccxt client was ever built with the keys
    await rt.control.close()
