"""HTML page of the operations report: :func:`render_ops_report` turns an
:class:`~sf.reports.ops_report.OpsReport` into one self-contained page (inline CSS and SVG).

Charts: ``files`` (lines valid / rejected / filtered per file, log scale so that a few
rejected lines stay visible next to millions of valid ones), ``compaction`` (records added
and deleted per type), ``scores`` (score distribution by alert level), ``regions`` (alerts per
region and level, with the previous batch's total). Tables give the exact figures.

Pure: no database access. Failure modes: none of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from sf.engine import __version__

from .html import (
    ALERT_COLOURS, ALERT_LABELS, esc, figure_html, fmt_date, fmt_number, new_figure, page_html, table_html,
)
from .ops_report import ALERT_LEVELS, FIRST_ERRORS_SHOWN, OpsReport, group_added_deleted

_COUNTS = (("lines_valid", "valides", "#2e86c1"), ("lines_rejected", "rejetées", "#c0392b"),
           ("lines_filtered", "filtrées (hors périmètre)", "#95a5a6"))


def _file_name(report: dict[str, Any]) -> str:
    return f"{report.get('file_type')} — {str(report.get('path') or '').rsplit('/', 1)[-1]}"


def chart_files(report: OpsReport) -> Any | None:
    """Lines valid / rejected / filtered per file (grouped horizontal bars, log scale)."""
    if not report.files:
        return None
    fig, ax = new_figure(height=max(2.0, 0.5 * len(report.files) + 1.0))
    y = np.arange(len(report.files))
    for k, (key, label, colour) in enumerate(_COUNTS):
        values = np.array([float(f.get(key) or 0) for f in report.files])
        ax.barh(y + (k - 1) * 0.27, np.where(values > 0, values, np.nan), height=0.27, color=colour, label=label)
    ax.set_xscale("log")
    ax.set_yticks(y, [_file_name(f) for f in report.files], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("lignes (échelle logarithmique)", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def chart_compaction(report: OpsReport) -> Any | None:
    """Records added (right) and deleted (left) per type by the compactions of the batch."""
    per_type = group_added_deleted(report.compactions)
    if not per_type:
        return None
    fig, ax = new_figure(height=max(2.0, 0.35 * len(per_type) + 1.0))
    names = list(per_type)
    y = np.arange(len(names))
    ax.barh(y, [per_type[t]["added"] for t in names], color="#27ae60", label="enregistrements ajoutés")
    ax.barh(y, [-per_type[t]["deleted"] for t in names], color="#c0392b", label="enregistrements supprimés")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def chart_scores(report: OpsReport) -> Any | None:
    """Histogram of the batch's scores, stacked by alert level."""
    if report.scores.empty:
        return None
    fig, ax = new_figure()
    groups, colours, labels = [], [], []
    for level in ("none", "moderate", "high"):
        mask = report.scores["alert"].isin(ALERT_LEVELS) if level == "none" else report.scores["alert"] == level
        values = report.scores.loc[~mask if level == "none" else mask, "score"].to_numpy()
        groups.append(values)
        colours.append(ALERT_COLOURS[level])
        labels.append(f"{ALERT_LABELS[level]} ({len(values)})")
    ax.hist(groups, bins=np.linspace(0, 1, 41), stacked=True, color=colours, label=labels)
    ax.set_yscale("log")
    ax.set_xlabel("score (probabilité de défaillance à 18 mois)", fontsize=9)
    ax.set_ylabel("établissements")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def chart_regions(report: OpsReport) -> Any | None:
    """Alerts per region: high and moderate stacked, the previous batch's total as a black mark."""
    frame = report.alerts_by_region
    if frame.empty:
        return None
    regions = sorted(frame["region"].unique())
    fig, ax = new_figure(height=max(2.2, 0.38 * len(regions) + 1.0))
    y = np.arange(len(regions))
    left = np.zeros(len(regions))
    for level in ("high", "moderate"):
        counts = np.array([int(frame[(frame.region == r) & (frame.level == level)]["count"].sum()) for r in regions])
        ax.barh(y, counts, left=left, color=ALERT_COLOURS[level], label=f"{ALERT_LABELS[level]} ({report.batch.key})")
        left += counts
    if report.previous_batch:
        before = [int(frame[frame.region == r]["previous"].sum()) for r in regions]
        ax.scatter(before, y, marker="|", s=300, color="black", linewidths=2.5,
                   label=f"total du lot précédent ({report.previous_batch})", zorder=3)
    ax.set_yticks(y, regions, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("établissements en alerte", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


# --- page -------------------------------------------------------------------------------------

def _files_html(report: OpsReport) -> str:
    if not report.files:
        return '<p class="warn">Aucun fichier importé.</p>'
    rows = []
    for f in report.files:
        errors = ([f"FATAL : {f['fatal_error']}"] if f.get("fatal_error") else []) + \
            list(f.get("first_errors") or [])[:FIRST_ERRORS_SHOWN]
        rows.append([esc(_file_name(f)), fmt_number(f.get("lines_read")), fmt_number(f.get("lines_valid")),
                     fmt_number(f.get("lines_rejected")), fmt_number(f.get("lines_filtered")),
                     "<br>".join(esc(e) for e in errors)])
    totals = report.file_totals()
    rows.append(["<b>total</b>", *(f"<b>{fmt_number(totals[k])}</b>" for k in
                                    ("lines_read", "lines_valid", "lines_rejected", "lines_filtered")),
                 f"{totals['fatal_files']} fichier(s) illisible(s)" if totals["fatal_files"] else ""])
    table = table_html(["fichier", "lues", "valides", "rejetées", "filtrées", "premières erreurs"], rows,
                       numeric=[1, 2, 3, 4], raw=range(6))
    return table + figure_html(chart_files(report), "Lignes par fichier (dernier import de chaque fichier).",
                               "chart-files")


def _compaction_html(report: OpsReport) -> str:
    if not report.compactions:
        return '<p class="warn">Pas de compaction terminée pour ce lot.</p>'
    keys = ("entities_read", "created", "changed", "unchanged", "removed")
    rows = [[fmt_date(c["started_at"]), esc(", ".join(c["counts"].get("batches") or [])),
             *(fmt_number(c["counts"].get(k)) for k in keys), fmt_number(c.get("duration_s"), 1)]
            for c in report.compactions]
    table = table_html(["date", "lots", "entités lues", "créées", "modifiées", "inchangées", "supprimées",
                        "durée (s)"], rows, numeric=range(2, 8), raw=range(8))
    per_type = group_added_deleted(report.compactions)
    types = table_html(["type", "ajoutés", "supprimés"],
                       [(t, fmt_number(v["added"]), fmt_number(v["deleted"])) for t, v in per_type.items()],
                       numeric=[1, 2])
    return table + "<h3>Enregistrements par type</h3>" + types + figure_html(
        chart_compaction(report), "Enregistrements ajoutés et supprimés par type.", "chart-compaction")


def _features_scores_html(report: OpsReport) -> str:
    f = report.features
    parts = [table_html(None, [
        ("Documents Features", fmt_number(f.get("documents"))),
        ("Mois couverts", f"{fmt_date(f.get('first_month'))[:7]} → {fmt_date(f.get('last_month'))[:7]}"
         if f.get("documents") else ""),
        ("Établissements (dernier mois)", fmt_number(f.get("establishments"))),
        ("Établissements scorés", fmt_number(len(report.scores))),
        ("Modèle(s)", ", ".join(sorted(str(m) for m in report.scores["model"].dropna().unique()))),
    ], numeric=[1])]
    parts.append(figure_html(chart_scores(report), "Distribution des scores du lot par niveau d'alerte "
                             "(échelle log).", "chart-scores"))
    return "".join(parts)


def _alerts_html(report: OpsReport) -> str:
    now, before = report.alert_counts(), report.alert_counts(previous=True)
    prev = report.previous_batch
    head = ["niveau", f"lot {report.batch.key}"] + ([f"lot {prev}", "évolution"] if prev else [])
    rows = [[ALERT_LABELS[level], fmt_number(now[level])]
            + ([fmt_number(before[level]), f"{now[level] - before[level]:+d}"] if prev else [])
            for level in ALERT_LEVELS]
    parts = [table_html(head, rows, numeric=range(1, 4))]
    if prev:
        changes = report.alert_changes()
        parts.append(f'<p>Par rapport au lot {esc(prev)} : {changes["new"]} nouvelle(s) alerte(s), '
                     f'{changes["ended"]} alerte(s) levée(s), {changes["kept"]} maintenue(s).</p>')
    else:
        parts.append('<p class="note">Pas de lot scoré antérieur : pas de comparaison.</p>')
    frame = report.alerts_by_region
    if not frame.empty:
        parts.append(table_html(
            ["région", "niveau", f"lot {report.batch.key}", f"lot {prev or '—'}", "évolution"],
            [(r.region, ALERT_LABELS[r.level], fmt_number(r.count), fmt_number(r.previous), f"{r.change:+d}")
             for r in frame.itertuples(index=False)], numeric=[2, 3, 4]))
        parts.append(figure_html(chart_regions(report), "Alertes par région et niveau (trait noir : total du lot "
                                 "précédent).", "chart-regions"))
    return "".join(parts)


def _runs_html(report: OpsReport) -> str:
    if not report.runs:
        return '<p class="note">Aucune exécution journalisée.</p>'
    labels = {"failed": "ÉCHEC", "unfinished": "NON TERMINÉE"}
    rows = []
    for r in report.runs:
        state = labels.get(r.problem or "", r.state)
        if r.restarted:
            state += " (relancée ensuite)"
        cls = "alert-high" if r.problem else ""
        rows.append([esc(r.command), esc(fmt_date(r.started_at)) + " " + esc(
            r.started_at.strftime("%H:%M") if r.started_at else ""), f'<span class="{cls}">{esc(state)}</span>',
            fmt_number(r.duration_s, 1), esc(r.error), esc(r.id)])
    problems = [r for r in report.runs if r.problem or r.restarted]
    intro = (f'<p class="bad">{len(problems)} exécution(s) en échec, interrompue(s) ou relancée(s).</p>'
             if problems else '<p class="note">Toutes les exécutions se sont terminées normalement.</p>')
    return intro + table_html(["commande", "début", "état", "durée (s)", "erreur", "run"], rows,
                              numeric=[3], raw=range(6))


def render_ops_report(report: OpsReport, generated_at: datetime | None = None) -> str:
    """The operations report page as HTML text."""
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    b = report.batch
    title = f"Rapport d'intégration du lot {b.key}"
    head = (f"<h1>{esc(title)}</h1><p class=\"sub\">{esc(b.name or '')} — période "
            f"{fmt_date(b.param.date_debut)} → {fmt_date(b.param.date_fin)}, {len(b.files)} type(s) de fichiers "
            "déclarés</p>")
    warnings = "".join(f'<p class="warn">{esc(w)}</p>' for w in report.warnings)
    body = [head, warnings,
            "<h2>Fichiers importés</h2>", _files_html(report),
            "<h2>Compaction</h2>", _compaction_html(report),
            "<h2>Features et scores</h2>", _features_scores_html(report),
            "<h2>Alertes</h2>", _alerts_html(report),
            "<h2>Exécutions</h2>", _runs_html(report)]
    return page_html(title, "".join(body), f"sf {__version__} — rapport généré le {when}.")
