"""HTML page of the company fiche: :func:`render_fiche` turns a :class:`~sf.reports.fiche.FicheData`
into one self-contained page (inline CSS and SVG charts, no script, no network).

Charts (each drawn only when there is something to draw; otherwise a one-line note says why):

``headcount``  headcount per establishment (the 8 largest; the others summed)
``urssaf``     monthly contributions called and the outstanding employee/employer-share debts
``delais``     payment delays granted (one bar from the date granted to its end, with its amount)
``apart``      short-time work: hours authorised (demand covering the month) and consumed
``procol``     insolvency events on a time line
``financial``  BdF/Diane ratios of the company (monthly values in use, 8+ months after closing)
``scores``     score of each establishment per batch, markers coloured by alert level
``reasons``    contributions by theme to the score, per batch, of the establishment followed

Every time chart marks the proceedings events (black dotted lines) and the first alert (red
dashed line), so that what happened before the alert is visible at a glance.

Pure: no database access. Failure modes: none of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from sf.engine import __version__
from sf.features.financial import BDF_RATIOS
from sf.model.corrections import corrections_in_words
from sf.model.scoring import explain_in_words
from sf.model.themes import THEME_LABELS, THEMES

from .fiche import ALERT_LEVELS, FicheData
from .html import (
    ALERT_COLOURS, alert_badge, date_axis, esc, figure_html, fmt_date, fmt_number, new_figure, page_html, style_axes,
    table_html,
)

#: Establishments drawn one by one on the headcount chart; the others are summed.
MAX_LINES = 8
#: Rows of the score table (most recent first); the count of the others is given.
MAX_SCORE_ROWS = 60
MAX_DELAIS = 25

_THEME_COLOURS = {"urssaf": "#1f77b4", "effectif": "#2ca02c", "apart": "#9467bd", "financier": "#8c564b",
                  "activite": "#7f7f7f"}
_RATIO_LABELS = {"poids_frng": "Poids du FRNG (% CA)", "taux_marge": "Taux de marge (% VA)",
                 "delai_fournisseur": "Délai fournisseurs (jours)", "dette_fiscale": "Dette fiscale (% VA)",
                 "financier_court_terme": "Concours court terme (% CA)",
                 "frais_financier": "Frais financiers (% EBE)"}


def _naive(values: Any) -> Any:
    """UTC timestamps as naive datetimes for matplotlib's date axis."""
    index = pd.DatetimeIndex(values)
    return index.tz_convert(None) if index.tz is not None else index


def _mark_events(ax: Any, data: FicheData) -> None:
    """Proceedings (dotted black) and the first alert (dashed red) as vertical lines; concise
    date ticks."""
    date_axis(ax)
    for i, event in enumerate(data.procol):
        ax.axvline(_naive([event.date])[0], color="black", linestyle=":", linewidth=1.2,
                   label="procédure collective" if i == 0 else None)
    alert = data.first_alert
    if alert is not None:
        ax.axvline(_naive([alert])[0], color=ALERT_COLOURS["high"], linestyle="--", linewidth=1.6,
                   label="1re alerte")


def _legend(ax: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def _finish_monthly(fig: Any, ax: Any, data: FicheData, ylabel: str, *, from_zero: bool = True) -> Any:
    """The end of a chart over the months: events marked, ``ylabel``, the y axis from 0 (with
    ``from_zero``), the legend; returns ``fig``."""
    _mark_events(ax, data)
    ax.set_ylabel(ylabel)
    if from_zero:
        ax.set_ylim(bottom=0)
    _legend(ax)
    return fig


def chart_headcount(data: FicheData) -> Any | None:
    """Headcount per establishment over the months of the series."""
    series = data.series.dropna(subset=["effectif"]) if not data.series.empty else data.series
    if series.empty:
        return None
    pivot = series.pivot_table(index="periode", columns="siret", values="effectif", aggfunc="sum").sort_index()
    order = pivot.max().sort_values(ascending=False).index.tolist()
    if data.focus_siret in order:
        order.remove(data.focus_siret)
        order.insert(0, data.focus_siret)
    shown, rest = order[:MAX_LINES], order[MAX_LINES:]
    fig, ax = new_figure()
    markers = "os^Dv<>p"
    for i, siret in enumerate(shown):
        focus = siret == data.focus_siret
        ax.plot(_naive(pivot.index), pivot[siret], marker=markers[i % len(markers)], markersize=2.5,
                linewidth=2.6 if focus else 1.4, label=f"{siret}{' (suivi)' if focus else ''}")
    if rest:
        ax.plot(_naive(pivot.index), pivot[rest].sum(axis=1, min_count=1), color="#555", linestyle="-.",
                linewidth=1.2, label=f"{len(rest)} autres établissements")
    return _finish_monthly(fig, ax, data, "salariés")


def chart_urssaf(data: FicheData) -> Any | None:
    """Company totals: contributions called (line) and debts, employee and employer shares (stacked)."""
    company = data.company_series()
    cols = ["cotisation", "montant_part_ouvriere", "montant_part_patronale"]
    if company.empty or company[cols].isna().all().all():
        return None
    x = _naive(company.index)
    fig, ax = new_figure()
    po = company["montant_part_ouvriere"].fillna(0.0).to_numpy()
    pp = company["montant_part_patronale"].fillna(0.0).to_numpy()
    ax.stackplot(x, po, pp, labels=["dette part salariale (ouvrière)", "dette part patronale"],
                 colors=["#f1948a", "#c0392b"], alpha=0.85)
    ax.plot(x, company["cotisation"], color="#1f4e79", linewidth=1.8, label="cotisations appelées (mois)")
    return _finish_monthly(fig, ax, data, "euros")


def chart_delais(data: FicheData) -> Any | None:
    """One horizontal bar per payment delay, from the date granted to its end."""
    if not data.delais:
        return None
    delais = data.delais[-MAX_DELAIS:]
    fig, ax = new_figure(height=max(1.8, 0.35 * len(delais) + 1.0))
    for i, d in enumerate(delais):
        start, end = _naive([d.date_creation])[0], _naive([d.date_echeance])[0]
        ax.barh(i, (end - start).days, left=start, height=0.6, color="#2e86c1")
        ax.text(end, i, f"  {fmt_number(d.montant_echeancier)} €", va="center", fontsize=8)
    ax.set_yticks(range(len(delais)), [f"{d.siret[9:]} {fmt_date(d.date_creation)}" for d in delais], fontsize=8)
    _mark_events(ax, data)
    ax.set_xlabel("période du délai de paiement (NIC, date d'octroi)", fontsize=9)
    _legend(ax)
    return fig


def chart_apart(data: FicheData) -> Any | None:
    """Short-time work of the company: hours authorised (line) and consumed (bars) per month."""
    company = data.company_series()
    cols = ["apart_heures_autorisees", "apart_heures_consommees"]
    if company.empty or company[cols].isna().all().all():
        return None
    x = _naive(company.index)
    fig, ax = new_figure()
    ax.bar(x, company["apart_heures_consommees"].fillna(0.0), width=25, color="#9467bd",
           label="heures consommées (mois)")
    ax.step(x, company["apart_heures_autorisees"], where="mid", color="#4a235a", linewidth=1.6,
            linestyle="--", label="heures autorisées (demande en cours)")
    return _finish_monthly(fig, ax, data, "heures", from_zero=False)


def chart_procol(data: FicheData) -> Any | None:
    """Insolvency events on a time line, labelled with action and stage."""
    if not data.procol:
        return None
    fig, ax = new_figure(height=1.4 + 0.3 * len(data.procol))
    dates = [e.date for e in data.procol] + ([] if data.series.empty else
                                              [data.series["periode"].min(), data.series["periode"].max()])
    lo, hi = _naive([min(dates)])[0], _naive([max(dates)])[0]
    middle = lo + (hi - lo) / 2
    for i, event in enumerate(data.procol):
        x = _naive([event.date])[0]
        ax.plot([x], [i], marker="D", color="black", markersize=7)
        right = x <= middle  # label on the side with room
        ax.annotate(f"  {event.action} — {event.stade} ({event.siret or 'entreprise'})  ", (x, i), fontsize=8,
                    va="center", ha="left" if right else "right")
    ax.set_yticks([])
    ax.set_ylim(-1, len(data.procol))
    ax.set_xlim(lo - (hi - lo) / 30, hi + (hi - lo) / 30)
    _mark_events(ax, data)
    return fig


def chart_financial(data: FicheData) -> Any | None:
    """Small multiples of the BdF/Diane ratios the company has (company-wide monthly values)."""
    if data.series.empty:
        return None
    per_month = data.series.groupby("periode")[list(BDF_RATIOS)].first().sort_index()
    present = [r for r in BDF_RATIOS if per_month[r].notna().any()]
    if not present:
        return None
    # As many columns as ratios, up to 3: a lone ratio spans the page width instead of being a
    # third-width chart that the page then scales up three times.
    columns = min(3, len(present))
    rows = -(-len(present) // columns)
    fig, _ = new_figure(height=2.4 * rows + (0.6 if rows == 1 else 0))
    fig.clear()
    x = _naive(per_month.index)
    for i, ratio in enumerate(present):
        ax = fig.add_subplot(rows, columns, i + 1)
        style_axes(ax)
        ax.plot(x, per_month[ratio], color="#8c564b", linewidth=1.6, marker="o", markersize=2)
        ax.set_title(_RATIO_LABELS.get(ratio, ratio), fontsize=9)
        ax.tick_params(labelsize=7)
        _mark_events(ax, data)
    return fig


def chart_scores(data: FicheData) -> Any | None:
    """Score per establishment over the scored batches, markers coloured by alert level."""
    if data.scores.empty:
        return None
    fig, ax = new_figure()
    for siret, rows in data.scores.sort_values("periode").groupby("siret"):
        x = _naive(rows["periode"])
        ax.plot(x, rows["score"], color="#999", linewidth=1.0, zorder=1)
        colours = [ALERT_COLOURS.get(a, ALERT_COLOURS["none"]) if a in ALERT_LEVELS else ALERT_COLOURS["none"]
                   for a in rows["alert"]]
        ax.scatter(x, rows["score"], c=colours, s=28, zorder=2, edgecolors="black", linewidths=0.4)
    for level in ("high", "moderate", "none"):
        ax.scatter([], [], c=ALERT_COLOURS[level], s=28, edgecolors="black", linewidths=0.4,
                   label={"high": "alerte forte", "moderate": "alerte modérée", "none": "pas d'alerte"}[level])
    _mark_events(ax, data)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probabilité de défaillance à 18 mois")
    _legend(ax)
    return fig


def _followed_siret(data: FicheData) -> str | None:
    if data.focus_siret and (data.scores["siret"] == data.focus_siret).any():
        return data.focus_siret
    if data.scores.empty:
        return None
    latest = data.scores[data.scores["batch"] == data.scores["batch"].max()]
    return str(latest.sort_values("score", ascending=False)["siret"].iloc[0])


def chart_reasons(data: FicheData) -> Any | None:
    """Contributions by theme to the score of the followed establishment, one bar group per batch."""
    siret = _followed_siret(data)
    if siret is None:
        return None
    rows = data.scores[data.scores["siret"] == siret].sort_values("batch")
    fig, ax = new_figure(height=3.0)
    x = np.arange(len(rows))
    up, down = np.zeros(len(rows)), np.zeros(len(rows))
    for theme in THEMES:
        values = np.array([float((r or {}).get(theme, 0.0) or 0.0) for r in rows["reasons"]])
        bottom = np.where(values >= 0, up, down)
        ax.bar(x, values, bottom=bottom, color=_THEME_COLOURS[theme], label=THEME_LABELS[theme], width=0.6)
        up += np.where(values >= 0, values, 0)
        down += np.where(values < 0, values, 0)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [f"lot {b}" for b in rows["batch"]], fontsize=8)
    ax.set_ylabel("contribution (log-odds)")
    ax.set_title(f"Raisons du score par thème — établissement {siret}", fontsize=10)
    _legend(ax)
    return fig


# --- page -------------------------------------------------------------------------------------

def _identity_html(data: FicheData) -> str:
    rows = [("SIREN", data.siren), ("Raison sociale", data.name or "inconnue"),
            ("Forme juridique", data.legal_form or "inconnue"), ("Secteur (APE — section NAF)", data.sector or "inconnu"),
            ("Ville du siège", data.city or "inconnue"), ("Région", data.region or "inconnue"),
            ("Création", fmt_date(data.company_created) or "inconnue"),
            ("Établissements connus", str(len(data.establishments)))]
    table = table_html(None, rows)
    etabs = table_html(
        ["SIRET", "siège", "adresse", "commune", "département", "APE", "création", "dernier effectif"],
        [(("▶ " if e.siret == data.focus_siret else "") + e.siret, "oui" if e.siege else "",
          e.adresse, " ".join(x for x in (e.code_postal, e.commune) if x), e.departement, e.ape,
          fmt_date(e.date_creation), fmt_number(e.effectif)) for e in data.establishments],
        numeric=[7])
    return f"<h2>Identité</h2>{table}<h3>Établissements</h3>{etabs}"


def _keyfacts_html(data: FicheData) -> str:
    items = []
    latest = data.scores[data.scores["batch"] == data.scores["batch"].max()] if not data.scores.empty else None
    if latest is not None and not latest.empty:
        top = latest.sort_values("score", ascending=False).iloc[0]
        items.append(f"Dernier score (lot {esc(top['batch'])}, {fmt_date(top['periode'])[:7]}) : "
                     f"<b>{fmt_number(100 * top['score'], 1)} %</b> — {alert_badge(top['alert'])} "
                     f"(établissement {esc(top['siret'])}). "
                     f"{esc(explain_in_words(top['reasons'] or {}, list(top['top_variables'] or [])))}"
                     f"{_correction_html(top.get('corrections'), top.get('score_before'), top.get('alert_before'))}")
    alert = data.first_alert
    if alert is not None:
        items.append(f"Première alerte : {fmt_date(alert)[:7]}.")
    trend = data.trend_before_alert()
    if trend is not None:
        what = "avant la 1re alerte" if trend["alert"] else "sur la dernière année"
        items.append(
            f"Évolution {what} ({fmt_date(trend['from'])[:7]} → {fmt_date(trend['to'])[:7]}) : effectif "
            f"{fmt_number(trend['effectif_from'])} → {fmt_number(trend['effectif_to'])}, dette URSSAF "
            f"{fmt_number(trend['dette_from'])} € → {fmt_number(trend['dette_to'])} €.")
    if data.procol:
        last = data.procol[-1]
        items.append(f"Procédure collective : {esc(last.action)} — {esc(last.stade)} le {fmt_date(last.date)}.")
    body = "".join(f"<li>{i}</li>" for i in items) or "<li>Rien à signaler.</li>"
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in data.notes)
    return f'<h2>À retenir</h2><ul class="keyfacts">{body}</ul>{notes}'


def _correction_html(corrections: Any, score_before: Any, alert_before: Any) -> str:
    """" <em>Corrigé …</em>" for a Score an expert correction changed: the model's own score and
    level, then each rule's reason and author; "" for the other Scores."""
    if not isinstance(corrections, list) or not corrections:
        return ""
    before = (f" (modèle : {fmt_number(100 * float(score_before), 1)} %, {alert_badge(alert_before)})"
              if score_before is not None else "")
    return f" <em class=\"correction\">{esc(corrections_in_words(corrections))}{before}</em>"


def _scores_table(data: FicheData) -> str:
    if data.scores.empty:
        return ""
    rows = data.scores.sort_values(["batch", "score"], ascending=[False, False])
    omitted = max(0, len(rows) - MAX_SCORE_ROWS)
    cells = []
    for r in rows.head(MAX_SCORE_ROWS).itertuples(index=False):
        reasons = r.reasons or {}
        cells.append([esc(r.batch), esc(fmt_date(r.periode)[:7]), esc(r.siret), fmt_number(100 * r.score, 1),
                      alert_badge(r.alert)]
                     + [fmt_number(reasons.get(t), 2) if t in reasons else "" for t in THEMES]
                     + [esc(explain_in_words(reasons, list(r.top_variables or [])))
                        + _correction_html(getattr(r, "corrections", None), getattr(r, "score_before", None),
                                           getattr(r, "alert_before", None))])
    table = table_html(["lot", "mois", "SIRET", "score %", "niveau", *[THEME_LABELS[t] for t in THEMES], "en clair"],
                       cells, numeric=[3, 5, 6, 7, 8, 9], raw=range(11))
    more = f'<p class="note">{omitted} lignes plus anciennes non affichées.</p>' if omitted else ""
    return f"<h3>Scores par lot et raisons par thème</h3>{table}{more}"


def _procol_table(data: FicheData) -> str:
    if not data.procol:
        return ""  # the section already says there is none
    return table_html(["date d'effet", "action", "stade", "établissement"],
                      [(fmt_date(e.date), e.action, e.stade, e.siret or "entreprise") for e in data.procol])


def _section(title: str, fig: Any, caption: str, chart_id: str, empty: str) -> str:
    if fig is None:
        return f'<h2>{esc(title)}</h2><p class="note">{esc(empty)}</p>'
    return f"<h2>{esc(title)}</h2>{figure_html(fig, caption, chart_id)}"


def render_fiche(data: FicheData, generated_at: datetime | None = None) -> str:
    """The fiche page as HTML text (see the module docstring for its charts)."""
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    title = f"Fiche entreprise {data.siren} — {data.name or 'raison sociale inconnue'}"
    head = (f"<h1>{esc(data.name or 'Raison sociale inconnue')}</h1>"
            f'<p class="sub">SIREN {esc(data.siren)}'
            f"{' — établissement suivi ' + esc(data.focus_siret) if data.focus_siret else ''}"
            f" — données du lot {esc(data.batch or 'aucun')} (séries : {esc(data.series_source)})</p>")
    sections = [
        head, _keyfacts_html(data), _identity_html(data),
        _section("Effectif", chart_headcount(data), "Effectif mensuel par établissement (source URSSAF). Trait "
                 "pointillé noir : procédure collective ; tireté rouge : première alerte.", "chart-headcount",
                 "Pas d'effectif connu."),
        _section("Cotisations et dettes URSSAF", chart_urssaf(data), "Cotisations appelées et dette restant due "
                 "(parts salariale et patronale), somme des établissements.", "chart-urssaf",
                 "Pas de cotisation ni de dette connue."),
        _section("Délais de paiement", chart_delais(data), "Délais de paiement accordés par l'URSSAF (date "
                 "d'octroi → échéance, montant de l'échéancier).", "chart-delais", "Aucun délai de paiement."),
        _section("Activité partielle", chart_apart(data), "Heures d'activité partielle autorisées (demande "
                 "couvrant le mois) et consommées, somme des établissements.", "chart-apart",
                 "Aucune demande d'activité partielle."),
        _section("Procédures collectives", chart_procol(data), "Événements de procédure collective.",
                 "chart-procol", "Aucune procédure collective connue.") + _procol_table(data),
        _section("Ratios financiers", chart_financial(data), "Ratios Banque de France (ou calculés depuis Diane), "
                 "tels qu'utilisables chaque mois (8 mois et plus après la clôture).", "chart-financial",
                 "Aucun ratio financier disponible."),
        _section("Score et niveau d'alerte", chart_scores(data), "Score de chaque établissement à chaque lot "
                 "(couleur : niveau d'alerte).", "chart-scores", "Aucun score calculé pour cette entreprise."),
    ]
    sections.append(figure_html(chart_reasons(data), "Contribution de chaque thème au score (positive : risque "
                                "accru).", "chart-reasons"))
    sections.append(_scores_table(data))
    return page_html(title, "".join(sections), f"sf {__version__} — fiche générée le {when}.")
