"""mkdocs hook: ship MathJax with the site so its maths renders with no network.

The renderer comes from the `django-static-mathjax` wheel of the `docs` extra (MathJax 3.2.2,
Apache-2.0; it imports as `mathjax` and has no dependencies). Its static files are added to
the site at build time: the one-file TeX -> CommonHTML component, the fonts CommonHTML looks
up next to it, and MathJax's licence. Neither the build nor a reader needs the network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

#: Where the renderer lands in the site; `mkdocs.yml` `extra_javascript` loads SCRIPT from here.
TARGET = "javascripts/mathjax"
#: All TeX extensions built in, so no extension is fetched at run time.
SCRIPT = "tex-chtml-full.js"
#: MathJax resolves the CommonHTML fonts relative to the script's own URL.
FONTS = "output/chtml/fonts/woff-v2"


def _mathjax_root() -> Path:
    spec = importlib.util.find_spec("mathjax")
    roots = [] if spec is None else list(spec.submodule_search_locations or [])
    for root in roots:
        path = Path(root) / "static" / "mathjax"
        if (path / "es5" / SCRIPT).is_file():
            return path
    raise PluginError(
        "the docs ship MathJax from the 'django-static-mathjax' package, which is not "
        "installed: pip install 'energykit-eqm[docs]'"
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the MathJax script, its fonts and its licence to the site's files."""
    root = _mathjax_root()
    es5 = root / "es5"
    fonts = sorted((es5 / FONTS).glob("*.woff"))
    if not fonts:
        raise PluginError(f"no MathJax fonts in {es5 / FONTS}")
    sources = {f"{TARGET}/{SCRIPT}": es5 / SCRIPT, f"{TARGET}/LICENSE": root / "LICENSE"}
    sources.update({f"{TARGET}/{FONTS}/{font.name}": font for font in fonts})
    for uri, path in sources.items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
