"""Config errors name the file, the key and the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.classify import OOS_THRESHOLD_BY_KIND
from bot.settings import ConfigError, find_config, load_settings
from tests.helpers import MINI


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    shutil.copytree(MINI.parent, tmp_path / "cfg")
    return tmp_path / "cfg"


def edit(path: Path, fn) -> None:  # noqa: ANN001
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def test_mini_config_loads():
    s = load_settings(MINI)
    assert set(s.intents) == {"order_status", "return_item", "fraud_report", "greeting"}
    assert s.intents["fraud_report"].critical
    assert s.answers["order_status"].startswith("Hi {customer_name}")


def test_unknown_key_names_file_and_key(cfg_dir):
    edit(cfg_dir / "supportbot.yaml", lambda d: d["policy"].update(confidence_treshold=0.5))
    with pytest.raises(ConfigError) as e:
        load_settings(cfg_dir / "supportbot.yaml")
    assert e.value.file.endswith("supportbot.yaml")
    assert e.value.key == "policy.confidence_treshold"
    assert "unknown key" in e.value.reason


def test_bad_route_names_rule(cfg_dir):
    edit(cfg_dir / "supportbot.yaml", lambda d: d["policy"]["rules"][1].update(route="robot"))
    with pytest.raises(ConfigError) as e:
        load_settings(cfg_dir / "supportbot.yaml")
    assert e.value.key == "policy.rules.1.route"


def test_threshold_out_of_range(cfg_dir):
    edit(cfg_dir / "supportbot.yaml", lambda d: d["policy"].update(confidence_threshold=1.5))
    with pytest.raises(ConfigError, match="policy.confidence_threshold"):
        load_settings(cfg_dir / "supportbot.yaml")


def test_tier_names_unknown_model(cfg_dir):
    edit(cfg_dir / "supportbot.yaml", lambda d: d["tiers"]["cheap"].append("gpt-9"))
    with pytest.raises(ConfigError) as e:
        load_settings(cfg_dir / "supportbot.yaml")
    assert e.value.key == "tiers.cheap.1" and "gpt-9" in e.value.reason


def test_rule_with_unknown_intent(cfg_dir):
    edit(cfg_dir / "supportbot.yaml", lambda d: d["policy"]["rules"][0]["when"].update(intent_in=["nope"]))
    with pytest.raises(ConfigError, match=r"policy\.rules\.0\.when\.intent_in: unknown intent 'nope'"):
        load_settings(cfg_dir / "supportbot.yaml")


def test_answer_for_unknown_intent_names_answers_file(cfg_dir):
    edit(cfg_dir / "answers.yaml", lambda d: d["answers"].update(ghost="boo"))
    with pytest.raises(ConfigError) as e:
        load_settings(cfg_dir / "supportbot.yaml")
    assert e.value.file.endswith("answers.yaml") and e.value.key == "answers.ghost"


def test_intent_without_examples_names_intents_file(cfg_dir):
    edit(cfg_dir / "intents.yaml", lambda d: d["intents"]["greeting"].update(examples=[]))
    with pytest.raises(ConfigError) as e:
        load_settings(cfg_dir / "supportbot.yaml")
    assert e.value.file.endswith("intents.yaml") and e.value.key == "intents.greeting.examples"


def test_invalid_yaml_says_where(cfg_dir):
    (cfg_dir / "supportbot.yaml").write_text("company: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML: line"):
        load_settings(cfg_dir / "supportbot.yaml")


def test_missing_file():
    with pytest.raises(ConfigError, match="file not found"):
        find_config("/nonexistent/supportbot.yaml")


def test_env_database_url_overrides(monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", "sqlite+aiosqlite:///elsewhere.db")
    assert load_settings(MINI).database.url == "sqlite+aiosqlite:///elsewhere.db"


def test_config_from_env(monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(MINI))
    assert find_config() == MINI


def test_oos_threshold_follows_the_classifier_kind_unless_set(cfg_dir, tmp_path):
    from bot.app import build_classifier

    s = load_settings(cfg_dir / "supportbot.yaml")
    assert s.classifier.oos_threshold is None  # the mini config leaves it unset
    assert s.classifier.kind == "embeddings" and "kind" not in s.classifier.model_fields_set  # the default
    assert s.classifier.threshold() == OOS_THRESHOLD_BY_KIND["embeddings"]
    assert s.classifier.threshold("tfidf") == 0.25
    s.classifier.kind = "tfidf"
    s.classifier.cache_dir, s.classifier.models_dir = str(tmp_path / "c"), str(tmp_path / "t")
    assert build_classifier(s).oos_threshold == 0.25

    def set_it(d):  # noqa: ANN001, ANN202
        d.setdefault("classifier", {}).update(kind="embeddings", oos_threshold=0.4)

    edit(cfg_dir / "supportbot.yaml", set_it)
    s = load_settings(cfg_dir / "supportbot.yaml")
    assert s.classifier.threshold() == 0.4 and s.classifier.threshold("tfidf") == 0.4  # set: every kind
    s.classifier.kind = "tfidf"
    s.classifier.cache_dir, s.classifier.models_dir = str(tmp_path / "c"), str(tmp_path / "t")
    assert build_classifier(s).oos_threshold == 0.4


def test_out_of_scope_examples_next_to_the_intents_or_named(cfg_dir):
    assert load_settings(cfg_dir / "supportbot.yaml").classifier.out_of_scope_examples == []  # none in mini
    (cfg_dir / "out_of_scope.yaml").write_text("examples:\n  - weather in paris\n  - 12345\n", encoding="utf-8")
    s = load_settings(cfg_dir / "supportbot.yaml")
    assert s.classifier.out_of_scope_examples == ["weather in paris", "12345"]
    (cfg_dir / "other.yaml").write_text("examples: [tell me a joke]\n", encoding="utf-8")
    edit(cfg_dir / "supportbot.yaml", lambda d: d.setdefault("classifier", {}).update(
        out_of_scope_file="other.yaml", out_of_scope_examples=["asdf qwer"]))
    assert load_settings(cfg_dir / "supportbot.yaml").classifier.out_of_scope_examples == ["asdf qwer", "tell me a joke"]
    (cfg_dir / "other.yaml").write_text("examples:\n  - ok\n  - ''\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg_dir / "supportbot.yaml")
    assert e.value.file.endswith("other.yaml") and e.value.key == "examples.1"
    edit(cfg_dir / "supportbot.yaml", lambda d: d["classifier"].update(out_of_scope_file="missing.yaml"))
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(cfg_dir / "supportbot.yaml")


def test_the_demo_ships_off_topic_examples():
    s = load_settings(Path(__file__).resolve().parents[1] / "examples" / "supportbot.yaml")
    oos = s.classifier.out_of_scope_examples
    assert 80 <= len(oos) <= 150 and len(set(oos)) == len(oos)
    assert "how tall is the eiffel tower" in oos


def test_every_error_of_a_file_at_once(tmp_path):
    bad = tmp_path / "supportbot.yaml"
    bad.write_text("company: {name: X, colour: red}\npolicy:\n  confidence_threshold: 2\n"
                   "  rules: [{name: a, route: nowhere}]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(bad)
    assert (e.value.key, e.value.reason) == ("company.colour", "unknown key")  # the first, as before
    assert [k for k, _ in e.value.more] == ["policy.confidence_threshold", "policy.rules.0.route"]
    assert str(e.value).count(str(bad)) == 3  # one line per error, each naming the file


def test_a_relative_sqlite_file_is_next_to_the_config_not_the_current_folder(cfg_dir, tmp_path, monkeypatch):
    """Issue 19: `--config shop/supportbot.yaml` from another folder finds the database the config names."""
    edit(cfg_dir / "supportbot.yaml", lambda d: d.update(database={"url": "sqlite+aiosqlite:///./data/shop.db"}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("SUPPORTBOT_DATABASE_URL", raising=False)
    s = load_settings(cfg_dir / "supportbot.yaml")
    assert s.database.url == f"sqlite+aiosqlite:///{(cfg_dir / 'data' / 'shop.db').resolve()}"
    # absolute paths, in-memory databases and other backends are left as written
    for url in ("sqlite+aiosqlite:////var/lib/supportbot/shop.db", "sqlite+aiosqlite:///:memory:",
                "postgresql+asyncpg://bot@db.internal/support"):
        edit(cfg_dir / "supportbot.yaml", lambda d, url=url: d.update(database={"url": url}))
        assert load_settings(cfg_dir / "supportbot.yaml").database.url == url
    # the environment's URL is taken as given (a shell's relative path is the current folder's)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", "sqlite+aiosqlite:///./here.db")
    assert load_settings(cfg_dir / "supportbot.yaml").database.url == "sqlite+aiosqlite:///./here.db"
