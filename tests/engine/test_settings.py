from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import SettingsError
from engine.settings import Settings


def test_defaults_and_home_from_env(tmp_path: Path) -> None:
    s = Settings.load(env={"TOMES_HOME": str(tmp_path)})
    assert s.home == tmp_path
    assert s.model.backend == "llama.cpp"
    assert s.retrieval.budget == 2048
    assert s.projects_dir == tmp_path / "projects"


def test_env_overrides_and_aliases(tmp_path: Path) -> None:
    env = {
        "TOMES_HOME": str(tmp_path),
        "TOMES_MODEL_N_CTX": "16384",
        "TOMES_BUDGET": "4096",
        "TOMES_RETRIEVAL_EMBEDDINGS": "off",
    }
    s = Settings.load(env=env)
    assert s.model.n_ctx == 16384
    assert s.retrieval.budget == 4096
    assert s.retrieval.embeddings is False


def test_precedence_env_then_project_then_explicit(tmp_path: Path) -> None:
    env = {"TOMES_HOME": str(tmp_path), "TOMES_MODEL_TEMPERATURE": "0.5"}
    s = Settings.load(
        env=env,
        project={"model.temperature": 0.3, "retrieval.budget": 1000},
        overrides={"model.temperature": 0.0, "retrieval.budget": None},
    )
    assert s.model.temperature == 0.0
    assert s.retrieval.budget == 1000  # None overrides are ignored


def test_bad_value_names_setting_and_env_var(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.load(env={"TOMES_HOME": str(tmp_path), "TOMES_MODEL_N_CTX": "lots"})
    msg = str(err.value)
    assert "model.n_ctx" in msg and "TOMES_MODEL_N_CTX" in msg and "'lots'" in msg


def test_out_of_range_and_choices(tmp_path: Path) -> None:
    env = {"TOMES_HOME": str(tmp_path)}
    with pytest.raises(SettingsError, match="at least 512"):
        Settings.load(env=env, overrides={"model.n_ctx": 10})
    with pytest.raises(SettingsError, match=r"one of llama\.cpp, torch, openai"):
        Settings.load(env=env, overrides={"model.backend": "gpt"})
    with pytest.raises(SettingsError, match=r"unknown setting 'model\.colour'"):
        Settings.load(env=env, overrides={"model.colour": 1})


def test_cross_field_checks_are_actionable(tmp_path: Path) -> None:
    env = {"TOMES_HOME": str(tmp_path)}
    with pytest.raises(SettingsError, match=r"server URL \(model\.base_url\)"):
        Settings.load(env=env, overrides={"model.backend": "openai"})
    with pytest.raises(SettingsError, match="lower the context budget or raise n_ctx"):
        Settings.load(env=env, overrides={"retrieval.budget": 8000, "model.n_ctx": 4096})
    with pytest.raises(SettingsError, match=r"\.gguf"):
        Settings.load(env=env, overrides={"model.path": "/models/qwen.bin"})


def test_hash_is_stable_and_secret_free(tmp_path: Path) -> None:
    a = Settings.load(env={"TOMES_HOME": str(tmp_path)})
    b = a.with_overrides({"model.api_key": "sk-secret"})
    assert a.hash("model") == b.hash("model")
    assert a.hash("memory") != a.with_overrides({"memory.fanout": 9}).hash("memory")


def test_every_setting_is_described() -> None:
    rows = Settings.describe()
    assert len(rows) > 15
    assert all(help_text for _, _, _, help_text in rows)
