"""Every builder reads its YAML the same way: a misspelt key or a file that is not a mapping is a clear error."""

import pytest

from cursorcore.builders import BUILDERS, get_builder


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_misspelt_key_is_named_in_the_error(name, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("seeed: 3\n")
    with pytest.raises(ValueError, match=f"{path}: unknown config keys seeed"):
        get_builder(name).Config.from_yaml(path)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_list_instead_of_a_mapping_is_refused(name, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("- seed\n")
    with pytest.raises(ValueError, match="expected a mapping of config keys"):
        get_builder(name).Config.from_yaml(path)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_an_empty_file_gives_the_embedded_default(name, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("")
    builder = get_builder(name)
    assert builder.Config.from_yaml(path) == builder.Config()
