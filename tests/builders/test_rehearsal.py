"""`make rehearse`: the full-scale config against the TGI and E2B stand-ins (minutes on 2 CPUs, hence slow)."""

import pytest

from cursorcore.builders import rehearsal
from cursorcore.builders.hub import dataset_folder
from cursorcore.builders.versions import versions


def test_the_overlay_changes_only_inputs_and_addresses(tmp_path):
    config = rehearsal.rehearsal_config("http://127.0.0.1:1", tmp_path)
    full = rehearsal.pi.Config.from_yaml(rehearsal.FULL_CONFIG)
    assert config.llm["endpoint_url"] == "http://127.0.0.1:1" and config.llm["model"] == full.llm["model"]
    assert config.sandbox == full.sandbox == "e2b" and config.sandbox_options["max_concurrent"] == 2
    assert config.synthesis["aiev"]["sandbox_options"] == {"allow_internet": True}
    assert (config.seed, config.test_fraction, config.kinds) == (full.seed, full.test_fraction, full.kinds)
    assert config.input_configs == {} and config.inputs("oj") == 1 and config.inputs("aiev") == 6


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_rehearsal_passes(tmp_path):
    result = rehearsal.rehearse(tmp_path)
    assert result["passed"], result
    assert result["tgi"]["overloaded"] + result["tgi"]["cold"] > 0 and result["tgi"]["validation"] == {}
    assert result["e2b"]["refusals"] == {} and 1 <= result["e2b"]["peak_alive"] <= 2
    assert result["llm"]["llm_validation"] == 0 and result["llm"]["llm_overload_waits"] > 0


@pytest.mark.slow
def test_a_setting_the_server_refuses_fails_the_build_with_that_cause(tmp_path, capsys):
    """Unshaped requests (server: openai) send Self-OSS-Instruct's top_p 1.0, which TGI refuses: the build stops
    instead of releasing a dataset without that kind."""
    assert rehearsal.main(["--hub", str(tmp_path), "--server", "openai", "--kinds", "self-oss-instruct"]) == 1
    error = capsys.readouterr().err
    assert "synthesis-self-oss-instruct" in error and "llm_validation" in error and "nothing released" in error
    assert versions(dataset_folder(rehearsal.pi.REPO_ID, tmp_path)) == []
