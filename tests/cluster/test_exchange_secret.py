"""Exchange keys from an existing Secret, end to end on the operator side.

The operator never reads the Secret: it renders secretKeyRef env vars into trader pods (from the
chart's exchange.existingSecret, passed as $QUANTOPS_EXCHANGE_SECRET, or an Agent's
spec.config.exchangeSecret), and the trading library's ccxt factory reads exactly those variables.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from controlplane import ControlPlane, operator_process

from quantops_operator.resources import deployments
from quantops_trading.adapters.ccxt.credentials import SECRET_KEYS

from .conftest import apply_agent, create_agent_service_accounts, get, unique, wait_for

pytestmark = pytest.mark.cluster


def _secret_refs(dep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})
    }


def _expected(secret: str) -> dict[str, dict[str, Any]]:
    return {env: {"name": secret, "key": key, "optional": False} for key, env in SECRET_KEYS.items()}


def test_operator_and_trading_library_agree_on_the_variable_names() -> None:
    assert deployments.EXCHANGE_KEY_ENV == SECRET_KEYS


def test_an_agents_own_secret_is_referenced_by_secret_key_ref(
    crds_installed: ControlPlane, operator: str
) -> None:
    plane, ns = crds_installed, operator
    name = unique("keys")
    apply_agent(plane, ns, name, config={"exchangeSecret": "binance-keys"})
    dep = wait_for(lambda: get(plane, ns, "deployment", f"{name}-agent"), 30, "deployment")
    assert _secret_refs(dep) == _expected("binance-keys")
    patch = {"spec": {"config": {"exchangeSecret": "other-keys"}}}
    plane.kubectl("-n", ns, "patch", "agent", name, "--type=merge", "-p", json.dumps(patch))

    def refs() -> dict[str, dict[str, Any]]:
        d = get(plane, ns, "deployment", f"{name}-agent")
        return _secret_refs(d) if d else {}

    wait_for(lambda: refs() == _expected("other-keys"), 30, "the Deployment follows the new Secret name")


def test_the_charts_existing_secret_goes_to_traders_only(
    crds_installed: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    plane = crds_installed
    ns = unique("secretns")
    plane.kubectl("create", "namespace", ns)
    create_agent_service_accounts(plane, ns)
    plane.kubectl(
        "-n", ns, "create", "secret", "generic", "quantops-exchange-keys",
        "--from-literal=apiKey=not-logged-key", "--from-literal=secret=not-logged-secret",
    )  # fmt: skip
    monkeypatch.setenv(deployments.EXCHANGE_SECRET_ENV, "quantops-exchange-keys")  # what the chart sets
    with operator_process(plane, ns, log_name="operator-exchange-secret"):
        apply_agent(plane, ns, "trader")
        apply_agent(plane, ns, "pipeline", role="pipeline")
        trader = wait_for(lambda: get(plane, ns, "deployment", "trader-agent"), 30, "trader deployment")
        pipeline = wait_for(lambda: get(plane, ns, "deployment", "pipeline-agent"), 30, "pipeline deployment")
    assert _secret_refs(trader) == _expected("quantops-exchange-keys")
    assert _secret_refs(pipeline) == {}  # keys only where orders are signed
    log = (plane.workdir / "operator-exchange-secret.log").read_text()
    assert "not-logged-key" not in log and "not-logged-secret" not in log

    # The API server accepted the pod template: the (kwok) pods exist and reference the Secret.
    def pods() -> list[dict[str, Any]]:
        out = plane.kubectl("-n", ns, "get", "pods", "-l", "quantops.dev/agent=trader", "-o", "json").stdout
        return list(json.loads(out)["items"])

    items = wait_for(pods, 30, "trader pods")
    assert all(_secret_refs({"spec": {"template": p}}) == _expected("quantops-exchange-keys") for p in items)
    plane.kubectl("delete", "namespace", ns, "--wait=false")


def test_a_bad_secret_name_is_an_error_naming_the_field() -> None:
    from quantops_api import Agent

    doc: dict[str, Any] = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": "t"},
        "spec": {"role": "trader", "config": {"exchangeSecret": "Not_A_Name"}},
    }
    with pytest.raises(ValueError, match=r"spec\.config\.exchangeSecret: 'Not_A_Name' is not a valid object"):
        Agent.model_validate(doc)
    doc["spec"]["config"] = {}
    agent = Agent.model_validate(doc)
    assert deployments.exchange_secret_for(agent, "") is None  # no default: no keys
    assert deployments.exchange_secret_for(agent, "chart-keys") == "chart-keys"
