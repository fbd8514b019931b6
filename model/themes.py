"""Themes of the feature variables, used to sum model explanations into a few readable reasons.

The five themes follow the spec's explanation groups (features.md §5.2 ``FEATURE_GROUPS``, §5.4):

- ``urssaf``: URSSAF contributions, debts, payment delays and CCSF plans
- ``effectif``: headcount and its history
- ``apart``: short-time work (activité partielle)
- ``financier``: Banque de France / Diane ratios and accounts, Paydex payment delays
- ``activite``: activity and sector: NAF/APE codes, age, region, legal form, ...

``theme_of(name)`` prefers the feature catalogue (``sf.features.catalogue``, whose variables
carry a ``theme``) when it is importable and knows the name; otherwise it applies the name rules
of the spec's catalogue (§2). An unknown name raises ``ValueError``: a variable silently put in
the wrong theme would give users a wrong reason.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from functools import lru_cache

THEMES: tuple[str, ...] = ("urssaf", "effectif", "apart", "financier", "activite")

# Short French labels, as shown to users in alert lists.
THEME_LABELS: dict[str, str] = {
    "urssaf": "dettes et délais URSSAF",
    "effectif": "effectif",
    "apart": "activité partielle",
    "financier": "ratios financiers",
    "activite": "activité et secteur",
}

# Suffixes of derived variables (lags, windows, differences): the theme is the base variable's.
_DERIVED_SUFFIX = re.compile(r"(_past_\d+|_moy\d+m|_mean\d+m|_diff\d*m?|_yoy|_variation_\d+|_group|_reporte)$")

# Diane fields (validation-schemas/990c4d74/diane.schema.json) and BdF ratios (§2.12-2.14).
_FINANCIER_NAMES: frozenset[str] = frozenset({
    "achat_marchandises", "achat_matieres_premieres", "arrete_bilan_diane", "autonomie_financiere",
    "autres_achats_charges_externes", "autres_produits_charges_reprises", "benefice_ou_perte", "ca",
    "ca_exportation", "ca_par_effectif", "capacite_autofinancement", "capacite_remboursement",
    "charge_exceptionnelle", "charge_personnel", "charges_financieres", "conces_brev_et_droits_sim",
    "concours_bancaire_courant", "consommation", "couverture_ca_besoin_fdr", "couverture_ca_fdr",
    "credit_client", "credit_fournisseur", "degre_immo_corporelle", "dette_fiscale_et_sociale",
    "dotation_amortissement", "efficacite_economique", "endettement", "endettement_global",
    "equilibre_financier", "excedent_brut_d_exploitation", "exercice_diane", "exportation",
    "financement_actif_circulant", "frais_de_RetD", "impot_benefice", "impots_taxes",
    "independance_financiere", "interets", "liquidite_generale", "liquidite_reduite", "marge_commerciale",
    "nombre_mois", "operations_commun", "part_autofinancement", "part_etat", "part_preteur",
    "part_salaries", "participation_salaries", "performance", "poids_bfr_exploitation", "production",
    "productivite_capital_financier", "productivite_capital_investi", "productivite_potentiel_production",
    "produit_exceptionnel", "produits_financiers", "rendement_brut_fonds_propres",
    "rendement_capitaux_propres", "rendement_ressources_durables", "rentabilite_economique",
    "rentabilite_nette", "resultat_avant_impot", "resultat_expl", "rotation_stocks",
    "subventions_d_exploitation", "taux_d_investissement_productif", "taux_endettement",
    "taux_interet_financier", "taux_interet_sur_ca", "taux_marge_commerciale", "taux_valeur_ajoutee",
    "valeur_ajoutee",
    # Banque de France
    "poids_frng", "taux_marge", "delai_fournisseur", "dette_fiscale", "financier_court_terme",
    "frais_financier", "arrete_bilan_bdf", "annee_bdf", "exercice_bdf",
})

_ACTIVITE_NAMES: frozenset[str] = frozenset({
    "age", "age_entreprise", "region", "departement", "code_commune", "latitude", "longitude",
    "statut_juridique", "date_creation_etablissement", "date_creation_entreprise",
    "nombre_etab_secondaire", "nombre_filiale", "taille_compo_groupe", "nbr_etablissements_connus",
})

# Ordered prefix rules (first match wins); exact-name sets are checked before them.
_PREFIX_RULES: tuple[tuple[str, str], ...] = (
    ("ratio_apart", "apart"),
    ("apart", "apart"),
    ("ap_", "apart"),
    ("effectif", "effectif"),
    ("cotisation", "urssaf"),
    ("montant_part", "urssaf"),
    ("ratio_dette", "urssaf"),
    ("dette", "urssaf"),
    ("avg_delta_dette", "urssaf"),
    ("debit", "urssaf"),
    ("delai", "urssaf"),
    ("ccsf", "urssaf"),
    ("date_ccsf", "urssaf"),
    ("tag_debit", "urssaf"),
    ("tag_default", "urssaf"),
    ("interessante_urssaf", "urssaf"),
    ("compte_urssaf", "urssaf"),
    ("paydex", "financier"),
    ("fpi_", "financier"),
    ("naf", "activite"),
    ("code_naf", "activite"),
    ("code_ape", "activite"),
    ("ape", "activite"),
    ("libelle_", "activite"),
    ("region", "activite"),
    ("secteur", "activite"),
)


def _base_name(name: str) -> str:
    """``montant_part_ouvriere_past_3`` → ``montant_part_ouvriere`` (strip derived suffixes)."""
    previous = None
    while previous != name:
        previous, name = name, _DERIVED_SUFFIX.sub("", name)
    return name


def theme_by_rules(name: str) -> str:
    """Theme of ``name`` from the spec's naming rules only; ``ValueError`` if no rule applies."""
    for candidate in (name, _base_name(name)):
        if candidate in _FINANCIER_NAMES:
            return "financier"
        if candidate in _ACTIVITE_NAMES:
            return "activite"
    for prefix, theme in _PREFIX_RULES:
        if name.startswith(prefix):
            return theme
    raise ValueError(f"variable {name!r}: no theme known (not in sf.features.catalogue and no naming rule "
                     f"of features.md §2 applies); add it to the catalogue with one of {', '.join(THEMES)}")


@lru_cache(maxsize=1)
def catalogue_themes() -> dict[str, str]:
    """``{variable name: theme}`` read from ``sf.features.catalogue``, or ``{}`` if it is not importable.

    The catalogue is expected to expose its ``Variable`` objects (with ``name`` and ``theme``) as a
    module-level list or tuple, or as a dict keyed by name; every such collection found is read.
    """
    try:
        module = importlib.import_module("sf.features.catalogue")
    except ImportError:
        return {}
    themes: dict[str, str] = {}
    for value in vars(module).values():
        items: Iterable[object]
        if isinstance(value, dict):
            items = value.values()
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            continue
        for item in items:
            name, theme = getattr(item, "name", None), getattr(item, "theme", None)
            if isinstance(name, str) and isinstance(theme, str):
                if theme not in THEMES:
                    raise ValueError(f"sf.features.catalogue: variable {name!r} has theme {theme!r}, "
                                     f"expected one of {', '.join(THEMES)}")
                themes[name] = theme
    return themes


def theme_of(name: str) -> str:
    """Theme (one of ``THEMES``) of the variable ``name``: the catalogue's, else the naming rules'.

    Raises ``ValueError`` naming the variable when neither knows it.
    """
    known = catalogue_themes()
    if name in known:
        return known[name]
    base = _base_name(name)
    if base in known:
        return known[base]
    return theme_by_rules(name)


def themes_of(names: Iterable[str]) -> dict[str, str]:
    """``{name: theme_of(name)}``; the error names every unknown variable at once."""
    result: dict[str, str] = {}
    unknown: list[str] = []
    for name in names:
        try:
            result[name] = theme_of(name)
        except ValueError:
            unknown.append(name)
    if unknown:
        raise ValueError(f"no theme known for variable(s) {', '.join(unknown)}: add them to sf.features.catalogue "
                         f"with one of {', '.join(THEMES)}")
    return result
