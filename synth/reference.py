"""Reference tables of the synthetic generator: activities, territories, names.

Plain constants (no randomness, no I/O). Values are realistic in shape, not statistics:
NAF rev. 2 codes with the monthly social contributions per employee and the turnover per
employee of the activity, French départements with their region, the code of their URSSAF
and an approximate centre, common surnames and street names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ACTIVITIES",
    "ACTIVITY_WEIGHTS",
    "ACTIVITY_WORDS",
    "COMMUNES",
    "FIRST_NAMES",
    "LEGAL_FORMS",
    "LEGAL_FORM_WEIGHTS",
    "STREETS",
    "STREET_TYPES",
    "SURNAMES",
    "TERRITORIES",
    "TERRITORY_WEIGHTS",
    "Activity",
    "Territory",
    "categorie_entreprise",
    "tranche_effectif",
]


@dataclass(frozen=True)
class Activity:
    """One NAF rev. 2 code: ``naf`` with its dot (``41.20A``), sector group index (see
    ``chain.SECTOR_GROUPS``), employer contributions + employee share per head and
    month (€), turnover per head and year (k€)."""

    naf: str
    group: int
    contributions_per_head: float
    turnover_per_head: float

    @property
    def ape(self) -> str:
        """The code without its dot, as URSSAF files write it (``4120A``)."""
        return self.naf.replace(".", "")


ACTIVITIES: tuple[Activity, ...] = (
    Activity("25.11Z", 0, 1500, 180), Activity("25.62B", 0, 1450, 150), Activity("10.71C", 0, 1050, 90),
    Activity("22.22Z", 0, 1400, 200), Activity("33.12Z", 0, 1500, 160),
    Activity("41.20A", 1, 1350, 190), Activity("43.21A", 1, 1300, 130), Activity("43.22A", 1, 1250, 130),
    Activity("43.32A", 1, 1200, 120), Activity("43.99C", 1, 1200, 120),
    Activity("47.11D", 2, 1050, 300), Activity("45.20A", 2, 1200, 200), Activity("46.90Z", 2, 1450, 450),
    Activity("47.73Z", 2, 1150, 320), Activity("47.19B", 2, 1050, 250),
    Activity("49.41A", 3, 1250, 140), Activity("52.29A", 3, 1400, 200), Activity("49.32Z", 3, 1000, 70),
    Activity("56.10A", 4, 950, 70), Activity("56.10C", 4, 900, 80), Activity("55.10Z", 4, 1000, 90),
    Activity("56.30Z", 4, 900, 60),
    Activity("62.01Z", 5, 2000, 140), Activity("70.22Z", 5, 2100, 160), Activity("81.21Z", 5, 950, 45),
    Activity("86.23Z", 5, 1500, 120), Activity("96.02A", 5, 950, 60), Activity("69.20Z", 5, 1700, 110),
    Activity("78.20Z", 5, 1000, 60),
)
_ACTIVITY_RAW_WEIGHTS = (
    3, 2, 4, 1, 2,
    4, 5, 4, 3, 3,
    4, 4, 3, 2, 2,
    3, 2, 1,
    6, 3, 2, 3,
    3, 3, 3, 2, 3, 2, 1,
)
ACTIVITY_WEIGHTS = np.asarray(_ACTIVITY_RAW_WEIGHTS, dtype=float) / sum(_ACTIVITY_RAW_WEIGHTS)


@dataclass(frozen=True)
class Territory:
    """A département: code (``75``, ``2A``, ``971``), region label, code of the managing
    URSSAF (3 digits), approximate longitude/latitude, main town."""

    dep: str
    region: str
    urssaf: str
    lon: float
    lat: float
    town: str

    def postal_code(self, number: int) -> str:
        """A plausible postal code for ``number`` in [0, 1000)."""
        if self.dep == "2A":
            return f"20{number % 200:03d}"          # 200xx–201xx: Corse-du-Sud
        if self.dep == "2B":
            return f"20{200 + number % 100:03d}"    # 202xx–202xx: Haute-Corse
        if len(self.dep) == 3:
            return f"{self.dep}{number % 100:02d}"
        if self.dep == "75":
            return f"750{1 + number % 20:02d}"
        return f"{self.dep}{number % 1000:03d}"

    def commune_code(self, number: int) -> str:
        """A plausible INSEE commune code (département + 3 digits, 2 for overseas)."""
        if len(self.dep) == 3:
            return f"{self.dep}{1 + number % 99:02d}"
        return f"{self.dep}{1 + number % 998:03d}"


TERRITORIES: tuple[Territory, ...] = (
    Territory("75", "Île-de-France", "117", 2.35, 48.86, "PARIS"),
    Territory("92", "Île-de-France", "117", 2.22, 48.85, "NANTERRE"),
    Territory("93", "Île-de-France", "117", 2.45, 48.91, "BOBIGNY"),
    Territory("94", "Île-de-France", "117", 2.47, 48.78, "CRETEIL"),
    Territory("69", "Auvergne-Rhône-Alpes", "827", 4.84, 45.76, "LYON"),
    Territory("38", "Auvergne-Rhône-Alpes", "827", 5.72, 45.19, "GRENOBLE"),
    Territory("63", "Auvergne-Rhône-Alpes", "827", 3.08, 45.78, "CLERMONT-FERRAND"),
    Territory("13", "Provence-Alpes-Côte d'Azur", "937", 5.37, 43.30, "MARSEILLE"),
    Territory("06", "Provence-Alpes-Côte d'Azur", "937", 7.26, 43.70, "NICE"),
    Territory("33", "Nouvelle-Aquitaine", "727", -0.58, 44.84, "BORDEAUX"),
    Territory("31", "Occitanie", "737", 1.44, 43.60, "TOULOUSE"),
    Territory("34", "Occitanie", "737", 3.88, 43.61, "MONTPELLIER"),
    Territory("59", "Hauts-de-France", "317", 3.06, 50.63, "LILLE"),
    Territory("62", "Hauts-de-France", "317", 2.78, 50.29, "ARRAS"),
    Territory("44", "Pays de la Loire", "527", -1.55, 47.22, "NANTES"),
    Territory("35", "Bretagne", "537", -1.68, 48.11, "RENNES"),
    Territory("29", "Bretagne", "537", -4.10, 48.00, "QUIMPER"),
    Territory("67", "Grand Est", "427", 7.75, 48.58, "STRASBOURG"),
    Territory("57", "Grand Est", "427", 6.18, 49.12, "METZ"),
    Territory("21", "Bourgogne-Franche-Comté", "267", 5.04, 47.32, "DIJON"),
    Territory("25", "Bourgogne-Franche-Comté", "267", 6.02, 47.24, "BESANCON"),
    Territory("76", "Normandie", "257", 1.10, 49.44, "ROUEN"),
    Territory("14", "Normandie", "257", -0.37, 49.18, "CAEN"),
    Territory("45", "Centre-Val de Loire", "247", 1.91, 47.90, "ORLEANS"),
    Territory("37", "Centre-Val de Loire", "247", 0.69, 47.39, "TOURS"),
    Territory("2A", "Corse", "947", 8.74, 41.93, "AJACCIO"),
    Territory("2B", "Corse", "947", 9.45, 42.70, "BASTIA"),
    Territory("971", "Guadeloupe", "977", -61.53, 16.24, "POINTE-A-PITRE"),
    Territory("974", "La Réunion", "987", 55.45, -20.88, "SAINT-DENIS"),
)
_TERRITORY_RAW_WEIGHTS = (8, 5, 4, 3, 6, 3, 1, 6, 3, 4, 4, 3, 5, 3, 3, 3, 2, 3, 2, 2, 1, 2, 1, 1, 1, 0.4, 0.4, 0.6, 0.8)
TERRITORY_WEIGHTS = np.asarray(_TERRITORY_RAW_WEIGHTS, dtype=float) / sum(_TERRITORY_RAW_WEIGHTS)

SURNAMES: tuple[str, ...] = (
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT",
    "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD",
    "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT", "MULLER", "LEFEVRE", "FAURE", "ANDRE",
    "MERCIER", "BLANC", "GUERIN", "BOYER", "GARNIER", "CHEVALIER", "FRANCOIS", "LEGRAND", "GAUTHIER", "GARCIA",
    "PERRIN", "ROBIN", "CLEMENT", "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON",
    "NGUYEN", "DIALLO", "DA SILVA", "BENALI", "LE GALL", "N'DIAYE", "D'ALMEIDA", "L'HERMITE",
)
FIRST_NAMES: tuple[str, ...] = (
    "JEAN", "MARIE", "PIERRE", "NATHALIE", "ISABELLE", "PHILIPPE", "SYLVIE", "MICHEL", "CATHERINE", "ALAIN",
    "NICOLAS", "SOPHIE", "CHRISTOPHE", "SANDRINE", "STEPHANE", "VALERIE", "DAVID", "CELINE", "KARIM", "FATIMA",
)
STREETS: tuple[str, ...] = (
    "DE LA REPUBLIQUE", "VICTOR HUGO", "JEAN JAURES", "DE LA GARE", "DU GENERAL DE GAULLE", "PASTEUR",
    "DES ECOLES", "DE L'EGLISE", "DU MOULIN", "DES LILAS", "DE PARIS", "NATIONALE", "DU COMMERCE",
    "DE L'INDUSTRIE", "DES ARTISANS", "GAMBETTA", "DU STADE", "DES PRES",
)
#: Street-type codes, all keys of the sirene parser's ``TypeVoie`` map.
STREET_TYPES: tuple[str, ...] = ("RUE", "RUE", "RUE", "AV", "BD", "CHE", "PL", "IMP", "RTE", "ALL", "QUA", "LD")
COMMUNES: tuple[str, ...] = (
    "SAINT-MARTIN", "VILLENEUVE", "BEAUMONT", "MONTFORT", "LA CHAPELLE", "BELLEVUE", "FONTAINE",
    "ROCHEFORT", "VAUX", "CHATEAUNEUF", "MARIGNY", "SAINTE-MARIE", "LE PLESSIS", "BOURG-NEUF",
)
#: Words used in company names, by sector group.
ACTIVITY_WORDS: tuple[tuple[str, ...], ...] = (
    ("METALLERIE", "MECANIQUE", "BOULANGERIE", "PLASTURGIE", "MAINTENANCE INDUSTRIELLE"),
    ("BATIMENT", "ELECTRICITE", "PLOMBERIE", "MENUISERIE", "TRAVAUX PUBLICS"),
    ("DISTRIBUTION", "AUTOMOBILES", "NEGOCE", "BRICOLAGE", "MARKET"),
    ("TRANSPORTS", "LOGISTIQUE", "TAXIS", "AMBULANCES"),
    ("RESTAURANT", "BRASSERIE", "HOTEL", "CAFE", "TRAITEUR"),
    ("CONSEIL", "INFORMATIQUE", "NETTOYAGE", "EXPERTISE", "SERVICES", "INTERIM", "COIFFURE"),
)
#: (INSEE legal category, short label used in Diane).
LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("5710", "SAS"), ("5499", "SARL"), ("5720", "SASU"), ("1000", "Entrepreneur individuel"), ("5599", "SA"),
)
LEGAL_FORM_WEIGHTS = np.asarray((0.45, 0.33, 0.12, 0.06, 0.04))

#: (first headcount above the band, INSEE band code) in increasing order.
_TRANCHES: tuple[tuple[int, str], ...] = (
    (3, "01"), (6, "02"), (10, "03"), (20, "11"), (50, "12"), (100, "21"), (200, "22"),
    (250, "31"), (500, "32"), (1000, "41"), (2000, "42"), (5000, "51"), (10000, "52"),
)


def tranche_effectif(headcount: int) -> str:
    """INSEE headcount band code of a headcount: ``00`` for none, ``01`` for 1–2, …,
    ``53`` for 10,000 or more."""
    if headcount <= 0:
        return "00"
    for upper, code in _TRANCHES:
        if headcount < upper:
            return code
    return "53"


def categorie_entreprise(headcount: int) -> str:
    """INSEE company category by headcount: PME (< 250), ETI (< 5000), GE."""
    if headcount < 250:
        return "PME"
    if headcount < 5000:
        return "ETI"
    return "GE"
