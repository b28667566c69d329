"""Centralised config loader: precedence, provenance and error messages (roadmap 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantops_trading.config import ConfigError, QuantopsConfig, load_config


def _yaml(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_configured() -> None:
    loaded = load_config(files=[], env={})
    assert loaded.config == QuantopsConfig()
    assert loaded.sources == {}
    assert loaded.source_of("trader.max_orders") == "default"


def test_precedence_defaults_files_kubernetes_env(tmp_path: Path) -> None:
    a = _yaml(tmp_path, "a.yaml", "trader: {max_orders: 2}\nlogging: {max_bytes: 4096, backup_count: 3}\n")
    b = _yaml(tmp_path, "b.yaml", "trader: {max_orders: 3}\n")
    files = [a, b]
    assert load_config(files=files, env={}).config.trader.max_orders == 3  # later file wins
    k8s = {"trader": {"maxOrders": 4}}  # camelCase from a Kubernetes object is the same key
    loaded = load_config(files=files, kubernetes=k8s, env={})
    assert loaded.config.trader.max_orders == 4
    assert loaded.source_of("trader.max_orders") == "kubernetes object config"
    env = {"QUANTOPS_TRADER__MAX_ORDERS": "5"}
    loaded = load_config(files=files, kubernetes=k8s, env=env)
    assert loaded.config.trader.max_orders == 5
    assert loaded.source_of("trader.max_orders") == "env QUANTOPS_TRADER__MAX_ORDERS"
    # keys a higher layer did not touch keep the lower layer's value (mappings merge key by key)
    assert loaded.config.logging.max_bytes == 4096
    assert loaded.config.logging.backup_count == 3
    assert loaded.source_of("logging.backup_count") == f"file {a}"


def test_error_names_key_path_reason_and_env_source() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(files=[], env={"QUANTOPS_TRADER__MAX_ORDERS": "0"})
    assert info.value.problems == (
        "trader.max_orders: Input should be greater than 0 (from env QUANTOPS_TRADER__MAX_ORDERS)",
    )


def test_errors_from_files_and_kubernetes_name_their_source(tmp_path: Path) -> None:
    f = _yaml(tmp_path, "bad.yaml", "logging:\n  max_bytes: 10\n  colour: red\n")
    with pytest.raises(ConfigError) as info:
        load_config(files=[f], kubernetes={"network": {"timeoutS": -1}}, env={})
    problems = set(info.value.problems)
    assert f"logging.max_bytes: Input should be greater than or equal to 1024 (from file {f})" in problems
    assert f"logging.colour: unknown key (not in the schema) (from file {f})" in problems
    assert "network.timeout_s: Input should be greater than 0 (from kubernetes object config)" in problems


def test_structured_env_values_are_json() -> None:
    env = {"QUANTOPS_NETWORK__VENUES": '[{"name": "sim", "url": "http://127.0.0.1:8080"}]'}
    loaded = load_config(files=[], env=env)
    assert [v.name for v in loaded.config.network.venues] == ["sim"]
    bad = {"QUANTOPS_NETWORK__VENUES": '[{"name": "sim", "url": "ftp://x"}]'}
    with pytest.raises(ConfigError, match=r"network\.venues\.0\.url: .*from env QUANTOPS_NETWORK__VENUES"):
        load_config(files=[], env=bad)


def test_non_config_quantops_variables_are_ignored() -> None:
    env = {"QUANTOPS_CACHE": "/x", "QUANTOPS_STATE_DIR": "/y", "QUANTOPS_CONFIG": ""}
    assert load_config(env=env).config == QuantopsConfig()


def test_unknown_env_section_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"tradr: unknown key .*QUANTOPS_TRADR__MAX_ORDERS"):
        load_config(files=[], env={"QUANTOPS_TRADR__MAX_ORDERS": "3"})


def test_files_come_from_quantops_config_env(tmp_path: Path) -> None:
    f = _yaml(tmp_path, "c.yaml", "agent: {name: trader-1}\n")
    assert load_config(env={"QUANTOPS_CONFIG": str(f)}).config.agent.name == "trader-1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("a: [unclosed\n", "invalid YAML"), ("- 1\n- 2\n", "top level must be a mapping")],
)
def test_unreadable_files_are_reported(tmp_path: Path, text: str, fragment: str) -> None:
    f = _yaml(tmp_path, "x.yaml", text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(files=[f], env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(files=[tmp_path / "missing.yaml"], env={})


def test_cross_field_rule_reports_section() -> None:
    env = {"QUANTOPS_PREFLIGHT__DISK_FAIL_FREE_BYTES": str(10**12)}
    with pytest.raises(ConfigError, match=r"^invalid configuration:\n  preflight: Value error"):
        load_config(files=[], env=env)


@given(
    file_v=st.integers(1, 1000) | st.none(),
    k8s_v=st.integers(1, 1000) | st.none(),
    env_v=st.integers(1, 1000) | st.none(),
)
def test_highest_layer_that_sets_a_key_wins(file_v: int | None, k8s_v: int | None, env_v: int | None) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        files = []
        if file_v is not None:
            files.append(_yaml(Path(d), "f.yaml", f"trader: {{max_orders: {file_v}}}\n"))
        k8s = {"trader": {"max_orders": k8s_v}} if k8s_v is not None else None
        env = {"QUANTOPS_TRADER__MAX_ORDERS": str(env_v)} if env_v is not None else {}
        got = load_config(files=files, kubernetes=k8s, env=env).config.trader.max_orders
    expected = next(v for v in (env_v, k8s_v, file_v, 100) if v is not None)
    assert got == expected
