"""Issue 19: a key-less local model (Ollama, vLLM, LM Studio, llama.cpp server) is first-class."""

from __future__ import annotations

from bot.llm.pricing import check_catalog
from bot.llm.router import LLMRouter, tier_has_key
from bot.llm.types import ChatTurn, LLMRequest
from bot.settings import Settings
from tests.fakes.llm_servers import FakeClock, RecordingSleep, db_sessions, http_client, llm_server  # noqa: F401

REQ = LLMRequest(system="You are Acme support.", messages=[ChatTurn("user", "Where is my order?")], max_tokens=50)


def local_settings(url: str) -> Settings:
    return Settings.model_validate({
        "company": {"name": "Acme"},
        "policy": {"rules": [{"name": "all", "route": "human"}]},
        "models": {"local": {"provider": "openai", "model": "llama3.2", "base_url": url + "/v1",
                             "input_per_mtok": 0, "output_per_mtok": 0}},
        "tiers": {"cheap": ["local"]},
    })


async def test_a_model_without_api_key_env_is_served_and_sends_no_authorization(llm_server, http_client,
                                                                               db_sessions):
    llm_server.keyless = True
    settings = local_settings(llm_server.url)
    check_catalog(settings)  # no api_key_env is a valid catalog entry
    assert tier_has_key(settings, "cheap", {})
    router = LLMRouter(settings, http_client, db_sessions, clock=FakeClock(), sleep=RecordingSleep(), env={})
    assert router.available("cheap")
    r = await router.complete("cheap", REQ, purpose="answer")
    assert (r.model, r.cost_usd) == ("local", 0)
    (req,) = llm_server.requests_for("llama3.2")
    assert "Authorization" not in req.headers and r.text == "Hello from llama3.2."


async def test_a_model_naming_an_unset_variable_is_still_skipped(llm_server, http_client, db_sessions):
    settings = local_settings(llm_server.url)
    settings.models["local"].api_key_env = "LOCAL_LLM_KEY"
    assert not tier_has_key(settings, "cheap", {})


def readme_catalog() -> tuple[dict, dict]:
    """The models and tiers of README's "Connecting an LLM" section, pasted as a user would."""
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Connecting an LLM"):]
    section = section[:section.index("\n## ", 5)]
    models_block, tiers_block = re.findall(r"```yaml\n(.*?)```", section, re.S)[:2]
    return yaml.safe_load("models:\n" + models_block)["models"], yaml.safe_load(tiers_block)["tiers"]


async def test_the_readme_llm_section_pasted_literally_answers_on_the_local_fake(llm_server, http_client,
                                                                                 db_sessions):
    models, tiers = readme_catalog()
    assert {"gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash", "deepseek-chat", "mistral-small",
            "local"} <= set(models)
    assert "api_key_env" not in models["local"]
    models["local"]["base_url"] = llm_server.url + "/v1"  # the fake plays Ollama on its own port
    llm_server.keyless = True
    settings = Settings.model_validate({"company": {"name": "Acme"},
                                        "policy": {"rules": [{"name": "all", "route": "human"}]},
                                        "models": models, "tiers": tiers})
    check_catalog(settings)
    router = LLMRouter(settings, http_client, db_sessions, clock=FakeClock(), sleep=RecordingSleep(), env={})
    r = await router.complete("cheap", REQ, purpose="answer")  # no key anywhere: the local model answers
    assert r.model == "local" and r.text == "Hello from llama3.2."
    assert not router.available("strong")
