"""Self-OSS-Instruct (SelfCodeAlign's top_p 1.0, n responses, stop sequences) through TGI's rules: the TGI stand-in
in front of the real llama.cpp server, the real sandbox. Shaped by the client, no request is refused; forced through
unshaped, the refusal is counted with TGI's reason instead of passing for a bad seed."""

from cursorcore.processing.llm import LLMConfig
from cursorcore.processing.synthesis.self_oss_instruct import SelfOSSInstructConfig, self_oss_instruct_step
from tests.processing.synthesis.test_self_oss_instruct_llm import TINY, candidate_seeds, rejections, run_step

TOP_P_REFUSED = "Input validation error: `top_p` must be > 0.0 and < 1.0"


def soi_on(url: str, server: str, sandbox, folder):
    config = SelfOSSInstructConfig(**TINY)
    assert config.top_p == 1.0  # SelfCodeAlign's setting, which TGI refuses as it is
    llm = LLMConfig(backend="endpoint", endpoint_url=url, server=server)
    step = self_oss_instruct_step(config, llm, folder / "out", folder / "checkpoints", sandbox=sandbox)
    (row,) = candidate_seeds()[:1]
    results, stats = run_step(step, [row], folder)
    return results[row["id"]], stats


def test_self_oss_instruct_requests_pass_tgi_validation(standin, local_sandbox, tmp_path):
    tgi = standin()
    result, stats = soi_on(tgi.url, "auto", local_sandbox, tmp_path)
    assert stats["llm_calls"] >= 1 and tgi.stats.served >= stats["llm_calls"]
    assert not tgi.stats.validation and "llm_validation" not in stats
    assert "llm_request_error" not in {rejection["reason"] for rejection in rejections(result)}


def test_self_oss_instruct_unshaped_is_a_counted_refusal(standin, local_sandbox, tmp_path):
    tgi = standin()
    result, stats = soi_on(tgi.url, "openai", local_sandbox, tmp_path)
    assert result["rejected"] == "llm_request_error" and TOP_P_REFUSED in result["detail"]
    assert stats["llm_validation"] == 1 and stats["rejected_llm_request_error"] == 1
    assert tgi.stats.validation == {TOP_P_REFUSED.removeprefix("Input validation error: "): 1}
