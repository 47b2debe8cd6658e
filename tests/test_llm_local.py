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
