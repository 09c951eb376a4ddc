"""Configuration: where it is found, what each key does, and how a bad file is reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clitools import BAD, line, run, write
from serialint.config import (
    DEFAULT_EXCLUDE,
    ConfigError,
    ConfigResolver,
    Settings,
    declared_torch_requirement,
    find_config,
    load_config,
    merge_cli,
)

CODES = ["SER101", "SER102", "SER105", "SER201", "SER202", "SER301"]
KNOWN_KEYS = (
    "cache-dir, exclude, extend-exclude, extend-select, ignore, module-bases, per-file-ignores, respect-gitignore, "
    "select, target-torch"
)

# -- finding the file ------------------------------------------------------------------------------


def test_nearest_pyproject_with_the_table(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.serialint]\n",
            "a/pyproject.toml": '[project]\nname = "a"\n',  # no table: the search goes on upward
            "a/b/c/": "",
        },
    )
    assert find_config(str(tmp_path / "a" / "b" / "c")) == str(tmp_path / "pyproject.toml")
    write(tmp_path, {"a/b/pyproject.toml": "[tool.serialint]\nselect = []\n"})
    assert find_config(str(tmp_path / "a" / "b" / "c")) == str(tmp_path / "a" / "b" / "pyproject.toml")


def test_a_mention_of_serialint_is_not_a_table(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "serialint.toml": "",
            "sub/pyproject.toml": '[project]\ndependencies = ["serialint"]\n# see tool.serialint docs\n',
        },
    )
    assert find_config(str(tmp_path / "sub")) == str(tmp_path / "serialint.toml")


def test_a_broken_pyproject_mentioning_serialint_is_used_so_its_error_shows(tmp_path: Path) -> None:
    write(tmp_path, {"serialint.toml": "", "sub/pyproject.toml": "[tool.serialint\n"})
    assert find_config(str(tmp_path / "sub")) == str(tmp_path / "sub" / "pyproject.toml")
    write(tmp_path, {"other/pyproject.toml": "[project\n"})  # broken, but not about serialint
    assert find_config(str(tmp_path / "other")) == str(tmp_path / "serialint.toml")


def test_file_precedence_in_one_directory(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "[tool.serialint]\n", "serialint.toml": ""})
    assert find_config(str(tmp_path)) == str(tmp_path / "serialint.toml")
    write(tmp_path, {".serialint.toml": ""})
    assert find_config(str(tmp_path)) == str(tmp_path / ".serialint.toml")


def test_resolver_names_files_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"proj/serialint.toml": "", "proj/m.py": ""})
    monkeypatch.chdir(tmp_path)
    settings = ConfigResolver(CODES).for_path("proj/m.py")
    assert settings.config_path == os.path.join("proj", "serialint.toml")
    assert settings.root == str(tmp_path / "proj")


def test_resolver_without_configuration_uses_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("serialint.config.find_config", lambda directory: None)
    settings = ConfigResolver(CODES).for_path("m.py")
    assert settings == Settings(root=str(tmp_path))


# -- the keys -------------------------------------------------------------------------------------------


def test_every_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": """\
[tool.serialint]
select = ["SER1", "SER201"]
extend-select = ["SER301"]
ignore = ["SER105"]
exclude = ["gen"]
extend-exclude = ["legacy/"]
respect-gitignore = false
module-bases = ["mylib.layers.Base"]
target-torch = ">=2.1, <3"

[tool.serialint.per-file-ignores]
"tests/**" = ["SER1"]
"scripts/export.py" = ["SER301", "SER2"]
"""
        },
    )
    settings = load_config(str(tmp_path / "pyproject.toml"), CODES)
    assert settings == Settings(
        select=("SER1", "SER201"),
        extend_select=("SER301",),
        ignore=("SER105",),
        per_file_ignores=(("tests/**", ("SER1",)), ("scripts/export.py", ("SER301", "SER2"))),
        exclude=("gen",),
        extend_exclude=("legacy/",),
        respect_gitignore=False,
        module_bases=("mylib.layers.Base",),
        target_torch=">=2.1, <3",
        config_path=str(tmp_path / "pyproject.toml"),
        root=str(tmp_path),
    )
    assert settings.enabled_codes(CODES, CODES) == frozenset({"SER101", "SER102", "SER201", "SER301"})


def test_defaults(tmp_path: Path) -> None:
    write(tmp_path, {"serialint.toml": ""})
    settings = load_config(str(tmp_path / "serialint.toml"), CODES)
    assert settings.select is None
    assert settings.exclude == DEFAULT_EXCLUDE
    assert settings.respect_gitignore is True
    for name in (".git", ".venv", "venv", "build", "dist", "__pycache__", ".tox", "node_modules", "site-packages"):
        assert name in DEFAULT_EXCLUDE


def test_serialint_toml_with_a_tool_table(tmp_path: Path) -> None:
    write(tmp_path, {"serialint.toml": '[tool.serialint]\nignore = ["SER101"]\n'})
    assert load_config(str(tmp_path / "serialint.toml"), CODES).ignore == ("SER101",)


def test_target_torch_from_declared_dependencies(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": """\
[project]
dependencies = ["torchvision>=0.1", "torch[opt] >=2.0,<2.6 ; python_version >= '3.9'"]

[tool.serialint]
"""
        },
    )
    assert load_config(str(tmp_path / "pyproject.toml"), CODES).target_torch == ">=2.0,<2.6"
    write(tmp_path, {"pyproject.toml": '[project]\ndependencies = ["torch"]\n[tool.serialint]\ntarget-torch = "2.6"\n'})
    assert load_config(str(tmp_path / "pyproject.toml"), CODES).target_torch == "2.6"


def test_declared_torch_requirement() -> None:
    assert declared_torch_requirement({"project": {"optional-dependencies": {"ml": ["torch~=2.4"]}}}) == "~=2.4"
    assert declared_torch_requirement({"project": {"dependencies": ["torch"]}}) is None
    assert declared_torch_requirement({"project": {"dependencies": ["torchaudio>=2"]}}) is None
    assert declared_torch_requirement({"project": "x"}) is None


# -- selection ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, enabled",
    [
        (Settings(), {"SER101", "SER102", "SER201", "SER202", "SER301"}),  # SER105 is off by default here
        (Settings(ignore=("SER1",)), {"SER201", "SER202", "SER301"}),
        (Settings(ignore=("SER102",)), {"SER101", "SER201", "SER202", "SER301"}),
        (Settings(extend_select=("SER105",)), {"SER101", "SER102", "SER105", "SER201", "SER202", "SER301"}),
        (Settings(select=("SER2",)), {"SER201", "SER202"}),
        (Settings(select=("ALL",)), set(CODES)),
        (Settings(select=("ALL",), ignore=("SER",)), set()),
        (Settings(select=("SER",), ignore=("SER2",)), {"SER101", "SER102", "SER105", "SER301"}),
        (Settings(select=("SER2",), ignore=("SER202",)), {"SER201"}),
        (Settings(select=("SER202",), ignore=("SER2",)), {"SER202"}),
        (Settings(select=("SER202",), ignore=("SER202",)), set()),
        (Settings(ignore=("SER1",), extend_select=("SER105",)), {"SER105", "SER201", "SER202", "SER301"}),
        (Settings(select=()), set()),
    ],
)
def test_enabled_codes(settings: Settings, enabled: set) -> None:
    defaults = [code for code in CODES if code != "SER105"]
    assert settings.enabled_codes(CODES, defaults) == frozenset(enabled)


def test_command_line_selection_merges_with_configuration() -> None:
    configured = Settings(select=("SER1",), ignore=("SER102",), extend_select=("SER301",))
    merged = merge_cli(configured, ["SER2"], ["SER202"], ["SER105"])
    assert (merged.select, merged.ignore, merged.extend_select) == (
        ("SER2",),
        ("SER102", "SER202"),
        ("SER301", "SER105"),
    )
    assert merge_cli(configured) == configured


def test_configured_selection_through_the_command(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[tool.serialint]\nignore = ["SER101"]\n', "m.py": BAD})
    assert run(["check"], tmp_path, pin=False).status == 0
    # --select replaces the configured select; the configured ignore still wins a tie
    assert run(["check", "--select", "SER101"], tmp_path, pin=False).status == 0
    write(tmp_path, {"pyproject.toml": '[tool.serialint]\nignore = ["SER1"]\n'})
    result = run(["check", "--select", "SER101"], tmp_path, pin=False)
    assert (result.status, result.out_lines) == (1, [line("m.py")])
    write(tmp_path, {"pyproject.toml": '[tool.serialint]\nselect = []\n'})
    assert run(["check"], tmp_path, pin=False).status == 0
    assert run(["check", "--extend-select", "SER101"], tmp_path, pin=False).status == 1


# -- per-file-ignores ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, path, ignored",
    [
        ("tests/**", "tests/test_a.py", True),
        ("tests/**", "tests/unit/deep/test_a.py", True),
        ("tests/**", "src/tests.py", False),
        ("tests/*.py", "tests/test_a.py", True),
        ("tests/*.py", "tests/unit/test_a.py", False),
        ("tests/", "tests/unit/test_a.py", True),
        ("tests", "tests/unit/test_a.py", True),
        ("test_*.py", "src/deep/test_model.py", True),  # no slash: the file name anywhere
        ("test_*.py", "src/model_test.py", False),
        ("**/conftest.py", "conftest.py", True),
        ("**/conftest.py", "a/b/conftest.py", True),
        ("scripts/export.py", "scripts/export.py", True),
        ("scripts/export.py", "other/scripts/export.py", False),
        ("./scripts/export.py", "scripts/export.py", True),
        ("m?.py", "m1.py", True),
        ("m[0-9].py", "m7.py", True),
        ("m[!0-9].py", "m7.py", False),
    ],
)
def test_per_file_ignores_globs(tmp_path: Path, pattern: str, path: str, ignored: bool) -> None:
    settings = Settings(per_file_ignores=((pattern, ("SER101",)),), root=str(tmp_path))
    assert settings.ignored_for(str(tmp_path / path)) == (("SER101",) if ignored else ())


def test_per_file_ignores_collect_every_matching_pattern(tmp_path: Path) -> None:
    settings = Settings(per_file_ignores=(("tests/**", ("SER1",)), ("*.py", ("SER2",))), root=str(tmp_path))
    assert settings.ignored_for(str(tmp_path / "tests" / "a.py")) == ("SER1", "SER2")


def test_per_file_ignores_through_the_command(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.serialint.per-file-ignores]\n"tests/**" = ["SER101"]\n"legacy_*.py" = ["SER1"]\n',
            "src/model.py": BAD,
            "src/legacy_model.py": BAD,
            "tests/test_model.py": BAD,
        },
    )
    result = run(["check"], tmp_path)
    assert (result.status, result.out_lines) == (1, [line(os.path.join("src", "model.py"))])


def test_per_file_ignores_are_relative_to_their_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "proj/pyproject.toml": '[tool.serialint.per-file-ignores]\n"tests/**" = ["SER101"]\n',
            "proj/tests/test_model.py": BAD,
            "tests/test_model.py": BAD,  # above proj: no configuration applies
        },
    )
    result = run(["check", "proj", "tests"], tmp_path)
    assert result.out_lines == [line(os.path.join("tests", "test_model.py"))]


# -- exclude ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, path, excluded",
    [
        ("gen", "gen", True),
        ("gen", "a/b/gen", True),
        ("gen", "a/generated", False),
        ("gen*", "a/generated", True),
        ("*_pb2.py", "proto/x_pb2.py", True),
        ("legacy/", "legacy", True),
        ("src/legacy", "src/legacy", True),
        ("src/legacy", "src/legacy/old.py", True),
        ("src/legacy", "lib/src/legacy", False),
        ("src/*.py", "src/m.py", True),
        ("src/*.py", "src/sub/m.py", False),
        ("**/fixtures", "a/b/fixtures", True),
    ],
)
def test_exclude_patterns(tmp_path: Path, pattern: str, path: str, excluded: bool) -> None:
    settings = Settings(exclude=(pattern,), root=str(tmp_path))
    assert settings.is_excluded(str(tmp_path / path)) is excluded
    extended = Settings(exclude=(), extend_exclude=(pattern,), root=str(tmp_path))
    assert extended.is_excluded(str(tmp_path / path)) is excluded


def test_exclude_looks_at_the_name_not_the_directories_above(tmp_path: Path) -> None:
    settings = Settings(root=str(tmp_path / "build" / "proj"))
    assert not settings.is_excluded(str(tmp_path / "build" / "proj" / "m.py"))
    assert settings.is_excluded(str(tmp_path / "build" / "proj" / "build"))


def test_exclude_with_parents_stops_at_the_root(tmp_path: Path) -> None:
    settings = Settings(root=str(tmp_path / "build" / "proj"))
    assert not settings.is_excluded_with_parents(str(tmp_path / "build" / "proj" / "m.py"))
    assert settings.is_excluded_with_parents(str(tmp_path / "build" / "proj" / "dist" / "x" / "m.py"))


def test_absolute_exclude_pattern(tmp_path: Path) -> None:
    settings = Settings(exclude=(str(tmp_path / "vendored"),), root=str(tmp_path / "other"))
    assert settings.is_excluded(str(tmp_path / "vendored"))
    assert not settings.is_excluded(str(tmp_path / "other" / "vendored"))


def test_exclude_replaces_the_defaults_and_extend_exclude_adds(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"pyproject.toml": '[tool.serialint]\nexclude = ["gen"]\n', "build/m.py": BAD, "gen/m.py": BAD},
    )
    result = run(["check"], tmp_path)
    assert result.out_lines == [line(os.path.join("build", "m.py"))]
    write(tmp_path, {"pyproject.toml": '[tool.serialint]\nextend-exclude = ["gen"]\n'})
    result = run(["check"], tmp_path)
    assert (result.status, result.out) == (0, "")
    assert result.err_lines == ["serialint: warning: no Python files found", "All checks passed."]


# -- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, error",
    [
        ("[tool.serialint]\nselct = []\n", f"unknown key 'tool.serialint.selct' (known: {KNOWN_KEYS})"),
        ("[tool.serialint.lint]\nselect = []\n", f"unknown key 'tool.serialint.lint' (known: {KNOWN_KEYS})"),
        ('[tool.serialint]\nselect = "SER101"\n', "'tool.serialint.select' must be a list of strings, got a string"),
        ("[tool.serialint]\nignore = [101]\n", "'tool.serialint.ignore' must be a list of strings, got a list"),
        ("[tool.serialint]\nexclude = true\n", "'tool.serialint.exclude' must be a list of strings, got a boolean"),
        (
            "[tool.serialint]\nmodule-bases = {}\n",
            "'tool.serialint.module-bases' must be a list of strings, got a table",
        ),
        (
            '[tool.serialint]\nmodule-bases = ["my lib.Base"]\n',
            "'tool.serialint.module-bases': 'my lib.Base' is not a dotted class name",
        ),
        (
            '[tool.serialint]\nrespect-gitignore = "yes"\n',
            "'tool.serialint.respect-gitignore' must be true or false, got a string",
        ),
        (
            "[tool.serialint]\ntarget-torch = 2.1\n",
            "'tool.serialint.target-torch' must be a version specifier string, got a number",
        ),
        (
            '[tool.serialint]\ntarget-torch = "latest"\n',
            "'tool.serialint.target-torch': 'latest' is not a version specifier (e.g. \">=2.1\")",
        ),
        (
            '[tool.serialint]\nper-file-ignores = ["tests/*"]\n',
            "'tool.serialint.per-file-ignores' must be a table of glob = [codes], got a list",
        ),
        (
            '[tool.serialint.per-file-ignores]\n"tests/*" = "SER101"\n',
            "'tool.serialint.per-file-ignores.\"tests/*\"' must be a list of rule codes",
        ),
        (
            '[tool.serialint.per-file-ignores]\n"tests/*" = ["SER999"]\n',
            "'tool.serialint.per-file-ignores.\"tests/*\"': unknown rule code or prefix 'SER999'",
        ),
        ('[tool.serialint]\nselect = ["SER9"]\n', "'tool.serialint.select': unknown rule code or prefix 'SER9'"),
        ('[tool.serialint]\nignore = ["E501"]\n', "'tool.serialint.ignore': unknown rule code or prefix 'E501'"),
        (
            '[tool.serialint]\nextend-select = ["ser101"]\n',
            "'tool.serialint.extend-select': unknown rule code or prefix 'ser101'",
        ),
        ("tool = 3\n", "'tool' must be a table"),
        ("[tool]\nserialint = 3\n", "'tool.serialint' must be a table, got an integer"),
    ],
)
def test_bad_pyproject(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), CODES)
    assert (caught.value.path, caught.value.message, caught.value.line) == (str(path), error, None)
    assert str(caught.value) == f"{path}: {error}"


def test_bad_serialint_toml_names_keys_without_prefix(tmp_path: Path) -> None:
    path = tmp_path / "serialint.toml"
    path.write_text('select = "SER101"\n')
    with pytest.raises(ConfigError, match=r": 'select' must be a list of strings, got a string$"):
        load_config(str(path), CODES)
    path.write_text('[lint]\nselect = ["SER101"]\n')
    with pytest.raises(ConfigError, match=r": unknown key 'lint' \(known: "):
        load_config(str(path), CODES)


@pytest.mark.parametrize(
    "text, line, column, error",
    [
        ("[tool.serialint]\nselect = [\"SER101\"\nignore = []\n", 3, 1, "invalid TOML: Unclosed array"),
        ("[tool.serialint]\nselect = [\"SER101\"\n\n", 2, 19, "invalid TOML: Unclosed array at the end of the file"),
        ("[tool.serialint\n", 1, 16, "invalid TOML: Expected ']' at the end of a table declaration"),
        ("[tool.serialint]\nselect = []\nselect = []\n", 3, 12, "invalid TOML: Cannot overwrite a value"),
        ("[tool.serialint]\nselect = \n", 2, 10, "invalid TOML: Invalid value"),
        ("select = ", 1, 9, "invalid TOML: Invalid value at the end of the file"),
    ],
)
def test_invalid_toml_names_line_and_column(tmp_path: Path, text: str, line: int, column: int, error: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), CODES)
    assert (caught.value.line, caught.value.column + 1 if caught.value.column is not None else 1) == (line, column)
    assert caught.value.message.startswith(error)
    assert "(at line" not in caught.value.message


def test_configuration_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "serialint.toml"
    path.write_bytes(b'# ok\nselect = ["\xff"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), CODES)
    assert (caught.value.message, caught.value.line, caught.value.column) == (
        "invalid TOML: the file is not UTF-8",
        2,
        11,
    )


def test_unreadable_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(str(tmp_path / "missing.toml"), CODES)


# -- errors through the command -------------------------------------------------------------------------


def test_a_bad_configuration_in_one_directory_does_not_stop_the_others(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "good/m.py": BAD,
            "bad/pyproject.toml": "[tool.serialint]\nselct = []\n",
            "bad/m.py": BAD,
            "bad/sub/m.py": BAD,
            "ugly/serialint.toml": 'select = ["SER101"\n',
            "ugly/m.py": BAD,
            "z.py": BAD,
        },
    )
    result = run(["check"], tmp_path)
    assert result.status == 2
    assert result.out_lines == [line(os.path.join("good", "m.py")), line("z.py")]
    assert result.err_lines == [
        f"serialint: error: {os.path.join('bad', 'pyproject.toml')}: unknown key 'tool.serialint.selct' "
        f"(known: {KNOWN_KEYS})",
        f"serialint: error: {os.path.join('ugly', 'serialint.toml')}:1:19: invalid TOML: Unclosed array "
        "at the end of the file",
        "Found 2 findings; 2 errors.",
    ]


def test_a_bad_configuration_for_a_file_named_on_the_command_line(tmp_path: Path) -> None:
    write(tmp_path, {"a/serialint.toml": "respect-gitignore = 1\n", "a/m.py": BAD, "b/m.py": BAD})
    result = run(["check", "a/m.py", "b/m.py"], tmp_path)
    assert result.status == 2
    assert result.out_lines == [line(os.path.join("b", "m.py"))]
    assert result.err_lines == [
        f"serialint: error: {os.path.join('a', 'serialint.toml')}: 'respect-gitignore' must be true or false, "
        "got an integer",
        "Found 1 finding; 1 error.",
    ]


def test_an_unknown_code_in_configuration_is_exit_2(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[tool.serialint]\nignore = ["SER999"]\n', "m.py": BAD})
    result = run(["check"], tmp_path)
    assert (result.status, result.out) == (2, "")
    assert result.err_lines == [
        "serialint: error: pyproject.toml: 'tool.serialint.ignore': unknown rule code or prefix 'SER999'",
        "No findings; 1 error.",
    ]


def test_module_bases_reach_the_index(tmp_path: Path) -> None:
    source = BAD.replace("from torch import nn\n", "from mylib import Block\n").replace("nn.Module", "Block")
    write(tmp_path, {"m.py": source})
    assert run(["check"], tmp_path).status == 0
    write(tmp_path, {"pyproject.toml": '[tool.serialint]\nmodule-bases = ["mylib.Block"]\n'})
    result = run(["check"], tmp_path)
    assert (result.status, result.out_lines) == (1, [line("m.py")])


class TestDeclaredTorchRequirement:
    """Without `target-torch`, the nearest pyproject.toml's torch requirement gives the range."""

    @staticmethod
    def resolve(tmp_path, pyproject: str, config: str = ""):
        from serialint.config import ConfigResolver

        (tmp_path / "pyproject.toml").write_text(pyproject)
        if config:
            (tmp_path / "serialint.toml").write_text(config)
        (tmp_path / "pkg").mkdir()
        (tmp_path / "pkg" / "m.py").write_text("")
        return ConfigResolver(["SER101", "SER302"]).for_path(str(tmp_path / "pkg" / "m.py"))

    def test_dependencies_without_a_serialint_table(self, tmp_path):
        settings = self.resolve(tmp_path, '[project]\nname = "x"\ndependencies = ["numpy", "torch>=2.1,<3"]\n')
        assert settings.target_torch == ">=2.1,<3"

    def test_optional_dependency_when_not_a_main_one(self, tmp_path):
        settings = self.resolve(
            tmp_path, '[project]\nname = "x"\n[project.optional-dependencies]\ngpu = ["torch[cuda] ~= 2.3"]\n'
        )
        assert settings.target_torch == "~= 2.3"

    def test_torchvision_is_not_torch(self, tmp_path):
        settings = self.resolve(tmp_path, '[project]\nname = "x"\ndependencies = ["torchvision>=0.15"]\n')
        assert settings.target_torch is None

    def test_configured_target_wins(self, tmp_path):
        settings = self.resolve(
            tmp_path, '[project]\nname = "x"\ndependencies = ["torch>=1.13"]\n', 'target-torch = ">=2.6"\n'
        )
        assert settings.target_torch == ">=2.6"

    def test_config_elsewhere_still_reads_the_declared_range(self, tmp_path):
        settings = self.resolve(tmp_path, '[project]\nname = "x"\ndependencies = ["torch==2.2.*"]\n', 'select = ["SER3"]\n')
        assert settings.target_torch == "==2.2.*" and settings.select == ("SER3",)

    def test_broken_unrelated_pyproject_is_ignored(self, tmp_path):
        settings = self.resolve(tmp_path, "[project\n")
        assert settings.target_torch is None
