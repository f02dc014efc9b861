"""`energykit --help` answers before torch loads: `import energykit` and the parser import no
torch (PEP 562 names), and the name lists the parser carries for that equal the registries
they mirror."""

from __future__ import annotations

import subprocess
import sys

import pytest

import energykit as ek
from energykit.cli import _args

PROBE = """
import sys
from energykit.cli import main
try:
    main({argv!r})
except SystemExit as exit:
    assert exit.code == 0, exit.code
heavy = sorted(m for m in ("torch", "numpy", "energykit.train", "energykit.sampling")
               if m in sys.modules)
print("loaded:", heavy)
"""


@pytest.mark.parametrize(
    "argv", [["--help"], ["train", "--help"], ["sample", "--help"], ["evaluate", "--help"]]
)
def test_help_imports_no_torch(argv):
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "loaded: []"
    assert "usage: energykit" in done.stdout


def test_import_energykit_alone_imports_no_torch():
    code = "import sys, energykit; print('torch' in sys.modules, energykit.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", ek.__version__], done.stderr


def test_lazy_names_are_the_subpackages_names():
    from energykit import descent, fields, objectives

    assert ek.Descender is descent.Descender and ek.NAGGD is descent.NAGGD
    assert ek.ImplicitField is fields.ImplicitField and ek.EqMLoss is objectives.EqMLoss
    assert ek.tasks.denoise.__module__ == "energykit.tasks.denoise"
    assert set(ek.__all__) <= set(dir(ek))
    for name in ek.__all__:
        assert getattr(ek, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Descendr'"):
        ek.Descendr  # noqa: B018


def test_cli_lazy_commands_resolve_and_unknown_names_fail():
    import energykit.cli as cli
    from energykit.cli.sample import cmd_sample

    assert cli.cmd_sample is cmd_sample
    with pytest.raises(AttributeError, match="no attribute 'cmd_nope'"):
        cli.cmd_nope  # noqa: B018


def test_the_parser_lists_equal_the_registries():
    from energykit.data import DATASETS
    from energykit.sampling import ODE_METHODS, SampleConfig

    assert tuple(n for n, info in DATASETS.items() if info.named_heldout) == _args.EVALUATE_DATA
    assert _args.ODE_METHOD_NAMES == ODE_METHODS
    fields = set(SampleConfig.__dataclass_fields__)
    assert set(_args.SAMPLE_FLAGS) <= fields
