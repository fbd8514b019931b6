"""Themes of the feature variables, used to sum model explanations into a few readable reasons.

The five themes follow the spec's explanation groups (features.md §5.2 ``FEATURE_GROUPS``, §5.4):

- ``urssaf``: URSSAF contributions, debts, payment delays and CCSF plans
- ``effectif``: headcount and its history
- ``apart``: short-time work (activité partielle)
- ``financier``: Banque de France / Diane ratios and accounts, Paydex payment delays
- ``activite``: activity and sector: NAF/APE codes, age, region, legal form, ...

Each variable's theme is the one the feature catalogue gives it (``sf.features.catalogue``,
the single list of variables). A name the catalogue does not know, or knows without a theme
(identifiers, the target), raises ``ValueError``: a variable silently put in the wrong theme
would give users a wrong reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import get_args
from sf.features.catalogue import CATALOGUE, Theme

from .errors import ModelOptionError

#: The themes, in the order reasons are shown: the catalogue's vocabulary.
THEMES: tuple[str, ...] = get_args(Theme)

# Short French labels, as shown to users in alert lists.
THEME_LABELS: dict[str, str] = {
    "urssaf": "dettes et délais URSSAF",
    "effectif": "effectif",
    "apart": "activité partielle",
    "financier": "ratios financiers",
    "activite": "activité et secteur",
}


@lru_cache(maxsize=1)
def catalogue_themes() -> dict[str, str]:
    """``{variable name: theme}`` of every catalogue variable that has a theme.

    Raises ``ValueError`` when the catalogue gives a theme outside ``THEMES``.
    """
    themes: dict[str, str] = {}
    for variable in CATALOGUE:
        if variable.theme is None:
            continue
        if variable.theme not in THEMES:
            raise ValueError(f"sf.features.catalogue: variable {variable.name!r} has theme {variable.theme!r}, "
                             f"expected one of {', '.join(THEMES)}")
        themes[variable.name] = variable.theme
    return themes


def theme_of(name: str) -> str:
    """Theme (one of ``THEMES``) of the variable ``name``, as the catalogue gives it.

    Raises ``ValueError`` naming the variable when the catalogue gives it no theme.
    """
    theme = catalogue_themes().get(name)
    if theme is None:
        raise ModelOptionError(f"variable {name!r}: no theme in sf.features.catalogue; "
                               f"give it one of {', '.join(THEMES)} there")
    return theme


def themes_of(names: Iterable[str]) -> dict[str, str]:
    """``{name: theme_of(name)}``; the error names every unknown variable at once."""
    result: dict[str, str] = {}
    unknown: list[str] = []
    for name in names:
        try:
            result[name] = theme_of(name)
        except ModelOptionError:
            unknown.append(name)
    if unknown:
        raise ModelOptionError(f"no theme known for variable(s) {', '.join(unknown)}: add them to sf.features.catalogue "
                               f"with one of {', '.join(THEMES)}")
    return result
