"""Safe YAML reading: exact scalars, positions, and everything hostile refused with a position."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from opinionkit import yamlsafe
from opinionkit.yamlsafe import Pos, YamlProblem, parse


def test_scalars_stay_exactly_as_typed() -> None:
    doc = parse(b"mrn: 00123\nflag: NO\nempty:\nq: 'null'\nn: ~\nf: 1.50\nd: 2024-01-05\n")
    assert doc.data == {
        "mrn": "00123",
        "flag": "NO",
        "empty": None,
        "q": "null",
        "n": None,
        "f": "1.50",
        "d": "2024-01-05",
    }


def test_positions_for_keys_and_items() -> None:
    doc = parse(b"a:\n  b:\n    - x\n    - y: 1\n")
    assert doc.positions[("a",)] == Pos(1, 1)
    assert doc.positions[("a", "b")] == Pos(2, 3)
    assert doc.positions[("a", "b", 1)] == Pos(4, 7)
    assert doc.position(("a", "b", 1, "y", "deeper")) == Pos(4, 7)


@pytest.mark.parametrize(
    ("raw", "code", "line"),
    [
        (b"a: &x 1\nb: *x\n", "yaml.anchor", 1),
        (b"a: 1\nb: *x\n", "yaml.alias", 2),
        (b"a: !!str 1\n", "yaml.tag", 1),
        (b"a: !!python/object/apply:os.system ['true']\n", "yaml.tag", 1),
        (b"a: 1\nb: 2\na: 3\n", "yaml.duplicate-key", 3),
        (b"---\na: 1\n---\nb: 2\n", "yaml.multiple-documents", 3),
        (b"a: [1, 2\n", "yaml.syntax", 1),  # where the bracket opened,
        (b"a:\n\t- b\n", "yaml.syntax", 2),
        (b"a: 1\n\xff\xfe: 2\n", "yaml.encoding", 2),
        (b"a: \x00\n", "yaml.encoding", None),
        (b"[" * 100, "yaml.too-deep", 1),
        (b"? [a, b]\n: 1\n", "yaml.complex-key", 1),
    ],
)
def test_hostile_yaml_is_refused_with_position(raw: bytes, code: str, line: int | None) -> None:
    with pytest.raises(YamlProblem) as info:
        parse(raw)
    assert info.value.code == code
    if line is not None:
        assert info.value.pos is not None and info.value.pos.line == line


def test_billion_laughs_never_expands() -> None:
    bomb = b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n'
    with pytest.raises(YamlProblem) as info:
        parse(bomb)
    assert info.value.code == "yaml.anchor"


def test_size_and_scalar_limits() -> None:
    with pytest.raises(YamlProblem) as info:
        parse(b"a: " + b"x" * (yamlsafe.MAX_SCALAR + 1))
    assert info.value.code == "yaml.too-large"
    with pytest.raises(YamlProblem) as info:
        parse(b"#" * (yamlsafe.MAX_BYTES + 1))
    assert info.value.code == "yaml.too-large"


def test_messages_never_quote_values() -> None:
    with pytest.raises(YamlProblem) as info:
        parse(b"name: Zebulon Quixote\nname: Zebulon Quixote\n")
    assert "Zebulon" not in info.value.message


def test_bom_is_accepted() -> None:
    assert parse(b"\xef\xbb\xbfa: 1\n").data == {"a": "1"}


# --- properties ---------------------------------------------------------------------------

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
scalars = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
)
trees = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_round_trip_of_quoted_text(tree: object) -> None:
    """Any tree of text written by a YAML emitter (quoted) comes back exactly."""
    raw = yaml.safe_dump({"root": tree}, allow_unicode=True, default_style='"').encode()
    assert parse(raw).data == {"root": tree}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_end_in_data_or_problem(raw: bytes) -> None:
    try:
        parse(raw)
    except YamlProblem as p:
        assert p.code.startswith("yaml.")


def _yaml_files() -> list[object]:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = sorted(root.glob("examples/*/case.yaml")) + sorted(
        (root / "src" / "opinionkit" / "profiles").glob("*.yaml")
    )
    assert files
    return files


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: f"{p.parent.name}/{p.name}")  # type: ignore[attr-defined]
def test_libyaml_and_pure_python_parsers_agree(
    path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """parse() uses libyaml when it can; it must give exactly what the pure-Python
    parser gives: the same values (nulls, quoted text) and the same positions."""
    assert yamlsafe._LOADER is yaml.CSafeLoader
    raw = path.read_bytes()  # type: ignore[attr-defined]
    fast = parse(raw)
    monkeypatch.setattr(yamlsafe, "_LOADER", yaml.SafeLoader)
    slow = parse(raw)
    assert fast.data == slow.data
    assert fast.positions == slow.positions


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "mrn", "x y"]),
        st.one_of(st.none(), st.text(max_size=8), st.lists(st.text(max_size=4), max_size=3)),
        max_size=4,
    )
)
@settings(max_examples=200, deadline=None)
def test_libyaml_agrees_on_generated_documents(doc: dict[str, object]) -> None:
    raw = yaml.safe_dump(doc, allow_unicode=True).encode()
    fast = yamlsafe._parse(raw.decode(), yaml.CSafeLoader)
    slow = yamlsafe._parse(raw.decode(), yaml.SafeLoader)
    assert fast.data == slow.data and fast.positions == slow.positions
