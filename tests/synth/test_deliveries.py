"""``sf synth`` end to end: delivery folders in the real formats, truth file, summary.

One small generation (module fixture) is checked against docs/importers.md (file
names, separators, quoting, required columns, date formats, perimeter rule) by reading
the files back with the strict Go-compatible CSV reader, and against the importers'
own parsers when they are available.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sf.importers.reading import GoCsvReader
from sf.synth.deliveries import SynthSummary, generate
from sf.synth.world import BLOCK_COMPANIES

from ..conftest import DATA

ROOT = Path(__file__).resolve().parents[2]
#: The Diane column table of docs/importers.md §3.15 is read from the maintainer docs, so the docs and the generator
#: cannot drift apart.
IMPORTERS_DOC = ROOT / "docs" / "importers.md"

PARAMS = {"establishments": 2500, "months": 14, "seed": 11, "end_batch": "2302", "broken_rate": 0.01,
          "history_months": 12}

# docs/importers.md §3.0: separator and lazy-quotes flag of each CSV source.
FORMAT = {
    "admin_urssaf": (";", False), "cotisation": (";", True), "debit": (";", False), "delai": (";", False),
    "ccsf": (";", False), "effectif": (";", False), "effectif_ent": (";", False), "procol": (";", True),
    "apconso": (",", False), "apdemande": (",", True), "sirene": (",", True), "sirene_ul": (",", True),
}
# docs/importers.md §5: real delivery file names.
FILE_NAMES = {
    "Sigfaible_effectif_siret.csv": "effectif", "Sigfaible_effectif_siren.csv": "effectif_ent",
    "Sigfaible_etablissement_utf8.csv": "admin_urssaf", "Sigfaible_cotisdues.csv": "cotisation",
    "Sigfaible_debits.csv": "debit", "Sigfaible_delais.csv": "delai", "Sigfaible_ccsf.csv": "ccsf",
    "Sigfaible_pcoll.csv": "procol", "demande_ap.csv": "apdemande", "consommation_ap.csv": "apconso",
    "StockEtablissement_utf8_geo.csv": "sirene", "sireneUL.csv": "sirene_ul",
}
# docs/importers.md §2.2 and §3: required columns (case-insensitive ones in lowercase).
REQUIRED = {
    "admin_urssaf": ["compte", "siret", "date_disp_siret"],
    "cotisation": ["Compte", "periode", "enc_direct", "cotis_due"],
    "debit": ["num_cpte", "Num_Ecn", "Dt_trt_ecn", "Mt_PO", "Mt_PP", "Num_Hist_Ecn", "Etat_cpte", "Cd_pro_col",
              "Periode", "Cd_op_ecn", "Motif_ecn", "Recours_en_cours"],
    "delai": ["Numero_compte_externe", "Numero_structure", "Date_creation", "Date_echeance", "Duree_delai",
              "Denomination_premiere_ligne", "Indic_6M", "Annee_creation", "Montant_global_echeancier",
              "Code_externe_stade", "Code_externe_action"],
    "ccsf": ["Compte", "Date_de_traitement", "Code_externe_stade", "Code_externe_action"],
    "effectif": ["siret", "compte"],
    "effectif_ent": ["siren"],
    "procol": ["dt_effet", "lib_actx_stdx", "siret"],
    "apconso": ["ID_DA", "ETAB_SIRET", "HEURES", "MONTANTS", "EFFECTIFS", "MOIS"],
    "apdemande": ["ID_DA", "ETAB_SIRET", "EFF_ENT", "EFF_ETAB", "DATE_STATUT", "DATE_DEB", "DATE_FIN", "HTA",
                  "EFF_AUTO", "MOTIF_RECOURS_SE", "S_HEURE_CONSOM_TOT", "PERIMETRE_AP", "MTA", "S_EFF_CONSOM_TOT",
                  "S_MONTANT_CONSOM_TOT"],
    "sirene": ["siren", "nic", "etablissementSiege", "complementAdresseEtablissement", "numeroVoieEtablissement",
               "indiceRepetitionEtablissement", "typeVoieEtablissement", "libelleVoieEtablissement",
               "libelleCommuneEtablissement", "libelleCommuneEtrangerEtablissement",
               "distributionSpecialeEtablissement", "codeCommuneEtablissement", "codeCedexEtablissement",
               "libelleCedexEtablissement", "codePaysEtrangerEtablissement", "libellePaysEtrangerEtablissement",
               "codePostalEtablissement", "activitePrincipaleEtablissement",
               "nomenclatureActivitePrincipaleEtablissement", "dateCreationEtablissement", "longitude", "latitude"],
    "sirene_ul": ["siren", "denominationUniteLegale", "prenom1UniteLegale", "prenom2UniteLegale", "prenom3UniteLegale",
                  "prenom4UniteLegale", "nomUniteLegale", "nomUsageUniteLegale", "categorieJuridiqueUniteLegale",
                  "dateCreationUniteLegale"],
}
CASE_INSENSITIVE = {"admin_urssaf", "effectif", "effectif_ent", "procol"}
ACCOUNT_KEY = {"cotisation": "Compte", "debit": "num_cpte", "delai": "Numero_compte_externe", "ccsf": "Compte"}
ENTITY_KEY = {"effectif": "siret", "effectif_ent": "siren", "procol": "Siret", "apconso": "ETAB_SIRET",
              "apdemande": "ETAB_SIRET", "sirene": "siret", "sirene_ul": "siren"}
_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                       "NOV", "DEC"), start=1)}


def _valid_ymd(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _urssaf_date_ok(value: str) -> bool:
    if not value.isdigit():
        return False
    number = int(value) + 19_000_000
    return _valid_ymd(number // 10000, number // 100 % 100, number % 100)


def _date_ok(file_type: str, value: str) -> bool:
    """Independent validators of the date formats of docs/importers.md §1.4 / §3."""
    if file_type == "cotisation":
        return len(value) == 4 and value.isdigit()
    if file_type in ("debit", "ccsf"):
        return _urssaf_date_ok(value)
    if file_type == "delai":
        match = re.fullmatch(r"(\d\d)/(\d\d)/(\d{4})", value)
        return bool(match) and _valid_ymd(int(match[3]), int(match[2]), int(match[1]))
    if file_type == "procol":
        match = re.fullmatch(r"(\d\d)([A-Z]{3})(\d{4})", value)
        return bool(match) and match[2] in _MONTHS and _valid_ymd(int(match[3]), _MONTHS[match[2]], int(match[1]))
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", value)
    return bool(match) and _valid_ymd(int(match[1]), int(match[2]), int(match[3]))


DATE_COLUMN = {"cotisation": "periode", "debit": "Dt_trt_ecn", "delai": "Date_creation", "ccsf": "Date_de_traitement",
               "procol": "Dt_effet", "apconso": "MOIS", "apdemande": "DATE_STATUT"}


def _read(path: Path, file_type: str) -> tuple[list[str], list]:
    sep, lazy = FORMAT[file_type]
    with GoCsvReader(path, sep=sep, lazy_quotes=lazy) as reader:
        return reader.header, list(reader)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth") / "out"
    return out, generate(out, **PARAMS)


# ---- layout and determinism ------------------------------------------------------------------

def test_layout_batch_folders_and_real_file_names(generated):
    out, summary = generated
    assert summary.batches == sorted(summary.batches) and summary.batches[-1] == "2302"
    assert len(summary.batches) == PARAMS["months"]
    assert {p.name for p in out.iterdir()} == set(summary.batches) | {"truth.parquet", "summary.json", "README.txt"}
    for j, key in enumerate(summary.batches):
        names = {p.name for p in (out / key).iterdir()}
        expected = set(FILE_NAMES) | {f"filter_{key}.csv"} | ({f"Diane_{key}.txt"} if j % 12 == 0 else set())
        assert names == expected


def test_batch_folders_are_detected_by_the_delivery_scanner(generated):
    delivery = pytest.importorskip("sf.importers.delivery")
    out, summary = generated
    detected = {delivery.detect_file_type(p.name) for p in (out / summary.batches[0]).iterdir()}
    assert detected == set(FILE_NAMES.values()) | {"filter", "diane"}


def test_same_seed_same_bytes_whatever_the_chunk_size(generated, tmp_path):
    out, summary = generated
    assert summary.companies > BLOCK_COMPANIES, "needs several blocks to exercise chunking"
    calls: list[tuple[int, int]] = []
    again = tmp_path / "again"
    generate(again, **PARAMS, chunk_companies=BLOCK_COMPANIES, progress=lambda done, total: calls.append((done, total)))
    first = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    second = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert first == second
    for relative in first:
        assert (out / relative).read_bytes() == (again / relative).read_bytes(), relative
    # streaming: one progress call per chunk (one block each), ending at the total
    assert len(calls) >= 2 and calls[-1] == (PARAMS["establishments"], PARAMS["establishments"])
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_another_seed_gives_other_data(tmp_path):
    a = generate(tmp_path / "a", 300, 2, seed=1, end_batch="2302", history_months=2)
    b = generate(tmp_path / "b", 300, 2, seed=2, end_batch="2302", history_months=2)
    assert a.establishments == b.establishments == 300
    name = "Sigfaible_effectif_siret.csv"
    assert (tmp_path / "a" / "2302" / name).read_bytes() != (tmp_path / "b" / "2302" / name).read_bytes()


def test_invalid_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path / "x", 0, 3, 1)
    with pytest.raises(ValueError):
        generate(tmp_path / "x", 10, 0, 1)
    with pytest.raises(ValueError):
        generate(tmp_path / "x", 10, 3, 1, broken_rate=1.0)
    with pytest.raises(ValueError):
        generate(tmp_path / "x", 10, 3, 1, end_batch="23-1")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        generate(tmp_path / "full", 10, 3, 1)


def test_summary_file_round_trips(generated):
    out, summary = generated
    loaded = SynthSummary.load(out)
    assert loaded == summary
    assert "out_dir" not in (out / "summary.json").read_text()
    assert f"seed {PARAMS['seed']}" in (out / "README.txt").read_text()


# ---- formats ---------------------------------------------------------------------------------

def test_headers_hold_the_required_columns_of_the_spec(generated):
    out, summary = generated
    for key in (summary.batches[0], summary.batches[-1]):
        for name, file_type in FILE_NAMES.items():
            header, _ = _read(out / key / name, file_type)
            names = [h.lower() for h in header] if file_type in CASE_INSENSITIVE else header
            missing = [c for c in REQUIRED[file_type] if c not in names]
            assert not missing, (key, name, missing)
        header, _ = _read(out / key / "Sigfaible_effectif_siret.csv", "effectif")
        months = [h for h in header if h.startswith("eff")]
        assert all(re.fullmatch(r"eff\d{4}[1-4][1-3]", m) for m in months)
        assert len(months) == PARAMS["history_months"] + summary.batches.index(key) + 1


def _diane_spec_columns() -> list[str]:
    """CSV column names of the Diane table of docs/importers.md §3.15 (``| `column` | ...`` rows,
    names between backticks, trailing spaces included)."""
    text = IMPORTERS_DOC.read_text(encoding="utf-8")
    section = text[text.index("### 3.15 diane"):text.index("### 3.16")]
    return [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]


def test_diane_export_is_utf16_with_every_spec_column(generated):
    out, summary = generated
    raw = (out / summary.batches[0] / f"Diane_{summary.batches[0]}.txt").read_bytes()
    assert raw.startswith(b"\xff\xfe")
    text = raw.decode("utf-16")
    header = text.split("\r\n", 1)[0]
    columns = {re.sub(r" \d{4}$", "", c.strip('"')) for c in header.split(";")}
    spec = _diane_spec_columns()
    assert len(spec) >= 80
    missing = [c for c in spec if c != "Annee" and c not in columns]
    assert not missing
    rows = [r for r in text.split("\r\n")[1:] if r]
    assert rows and all(len(r.split('";"')) == len(header.split('";"')) for r in rows)


def test_filter_is_the_prepare_import_perimeter_of_the_effectif_file(generated):
    out, summary = generated
    for key in (summary.batches[0], summary.batches[-1]):
        header, records = _read(out / key / "Sigfaible_effectif_siret.csv", "effectif")
        month_columns = [i for i, h in enumerate(header) if h.startswith("eff")][-100:]
        kept = set()
        for record in records:
            if record.error or record.fields[1].startswith("9"):
                continue  # broken copies are not part of the delivery's content
            values = [int(record.fields[i]) for i in month_columns if record.fields[i]]
            if any(v >= 10 for v in values):
                kept.add(record.fields[1][:9])
        filter_lines = (out / key / f"filter_{key}.csv").read_text().splitlines()
        assert all(re.fullmatch(r"\d{9}", s) for s in filter_lines)
        assert set(filter_lines) == kept and len(filter_lines) == len(kept)


def test_every_file_reads_strictly_and_broken_lines_are_exactly_those_counted(generated):
    """Count, independently of the generator, the records a strict reader rejects (field
    count), whose date is impossible, and whose key is outside the population."""
    out, summary = generated
    total_broken = 0
    for key in summary.batches:
        for name, file_type in FILE_NAMES.items():
            header, records = _read(out / key / name, file_type)
            stats = summary.files[key][name]
            assert stats.lines == len(records), (key, name)
            counted = {"field_count": 0, "bad_date": 0, "unknown_key": 0}
            for record in records:
                if record.error is not None:
                    assert "wrong number of fields" in record.error, record.error
                    counted["field_count"] += 1
                    continue
                row = dict(zip(header, record.fields))
                if file_type in DATE_COLUMN and not _date_ok(file_type, row[DATE_COLUMN[file_type]]):
                    counted["bad_date"] += 1
                elif file_type in ACCOUNT_KEY and row[ACCOUNT_KEY[file_type]].startswith("999") or file_type in ENTITY_KEY and row[ENTITY_KEY[file_type]].startswith("9"):
                    counted["unknown_key"] += 1
            assert {k: v for k, v in counted.items() if v} == stats.broken, (key, name)
            total_broken += sum(counted.values())
    assert total_broken > 20, "the fixture's rate should produce broken lines"
    assert not any(summary.files[key]["Sigfaible_etablissement_utf8.csv"].broken for key in summary.batches)


def test_import_reports_match_the_summary(generated):
    """The importers' parsers (other module) report exactly the expected counts."""
    perimeter = pytest.importorskip("sf.importers.perimeter")
    records = pytest.importorskip("sf.importers.records")
    registry = pytest.importorskip("sf.importers.registry")
    tracker = pytest.importorskip("sf.importers.tracker")
    out, summary = generated
    for j in (0, 1, len(summary.batches) - 1):
        key = summary.batches[j]
        folder = out / key
        filt = perimeter.load_perimeter([folder / f"filter_{key}.csv"])
        mapping = perimeter.load_account_mapping([folder / "Sigfaible_etablissement_utf8.csv"], filt)
        year, month = 2000 + int(key[:2]), int(key[2:])
        ctx = records.ParseContext(batch_key=key, date_debut=dt.datetime(2014, 1, 1, tzinfo=dt.UTC),
                                   date_fin=dt.datetime(year, month, 1, tzinfo=dt.UTC),
                                   perimeter=filt, mapping=lambda mapping=mapping: mapping)
        names = dict(FILE_NAMES)
        if f"Diane_{key}.txt" in summary.files[key]:
            names[f"Diane_{key}.txt"] = "diane"
        for name, file_type in names.items():
            report, tuples = tracker.track_file(registry.load_parser(file_type), str(folder / name), ctx)
            for _ in tuples:
                pass
            got = {"parsed": report.lines_read, "rejected": report.lines_rejected,
                   "filtered": report.lines_filtered, "valid": report.lines_valid}
            assert not report.is_fatal, (key, name, report.fatal_error)
            assert got == summary.files[key][name].expected_report(), (key, name, report.first_errors[:3])


# ---- truth -----------------------------------------------------------------------------------

def test_truth_file_schema_and_row_groups(generated):
    out, summary = generated
    parquet = pq.ParquetFile(out / "truth.parquet")
    assert parquet.metadata.num_rows == summary.truth_rows > 0
    assert parquet.num_row_groups == -(-summary.companies // BLOCK_COMPANIES), "one row group per block"
    table = parquet.read().to_pandas()
    for column in ("siret", "siren", "periode", "oracle_p18", "outcome_18", "latent_state", "procol_date"):
        assert column in table.columns
    assert table["siret"].str.fullmatch(r"\d{14}").all()
    assert (table["siret"].str[:9] == table["siren"]).all()
    assert str(table["periode"].dt.tz) == "UTC" and (table["periode"].dt.day == 1).all()
    assert table["oracle_p18"].between(0, 1).all()
    assert 0.003 < table["outcome_18"].mean() < 0.15, "most establishments never fail"
    assert table["outcome_18"].sum() == summary.truth_positive_rows
    first = table["periode"].min()
    assert (first.year, first.month) == (2020, 12), "history starts history_months before the first batch"


def test_realised_outcome_matches_the_procol_lines_written(generated):
    out, summary = generated
    opening: dict[str, dt.date] = {}
    for key in summary.batches:
        _header, records = _read(out / key / "Sigfaible_pcoll.csv", "procol")
        for record in records:
            if record.error:
                continue
            siret, effet, label = record.fields[0], record.fields[2], record.fields[4]
            if not label.startswith("Ouverture_") or not _date_ok("procol", effet):
                continue
            date = dt.date(int(effet[5:]), _MONTHS[effet[2:5]], int(effet[:2]))
            opening[siret] = min(opening.get(siret, date), date)
    assert len(opening) > 10
    table = pq.read_table(out / "truth.parquet").to_pandas()
    last = summary.batches[-1]
    last_data_month = (2000 + int(last[:2])) * 12 + int(last[2:]) - 2
    month = table["periode"].dt.year * 12 + table["periode"].dt.month - 1
    judged = table["siret"].map(lambda s: opening.get(s))
    judged_month = judged.map(lambda d: d.year * 12 + d.month - 1 if d is not None else np.nan)
    observable = month + 18 <= last_data_month
    expected = (judged_month > month) & (judged_month <= month + 18)
    assert (table.loc[observable, "outcome_18"] == expected[observable]).all()
    assert not (judged_month <= month).any(), "no truth row at or after the opening judgment"
    written = table[judged.notna()]
    assert (written["procol_date"].dt.date == written["siret"].map(opening)).all()
    assert summary.failures > 0


def test_stock_files_are_redelivered_with_small_changes(generated):
    out, summary = generated
    a, b = summary.batches[4], summary.batches[5]  # within a year: INSEE yearly fields do not move
    header_a, rows_a = _read(out / a / "Sigfaible_effectif_siret.csv", "effectif")
    header_b, rows_b = _read(out / b / "Sigfaible_effectif_siret.csv", "effectif")
    assert header_b[:-2] == header_a[:-2] + [header_b[-3]], "one more monthly column"
    sirets_a = {r.fields[1] for r in rows_a if not r.error and not r.fields[1].startswith("9")}
    sirets_b = {r.fields[1] for r in rows_b if not r.error and not r.fields[1].startswith("9")}
    assert sirets_a <= sirets_b and len(sirets_b - sirets_a) < 0.05 * len(sirets_a)
    sirene_a = (out / a / "StockEtablissement_utf8_geo.csv").read_text().splitlines()
    sirene_b = set((out / b / "StockEtablissement_utf8_geo.csv").read_text().splitlines())
    unchanged = sum(1 for line in sirene_a if line in sirene_b)
    assert 0.9 * len(sirene_a) < unchanged < len(sirene_a), "re-delivered in full, a few rows changed"
