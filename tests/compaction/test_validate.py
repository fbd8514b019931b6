"""`sf validate`: records of ImportedData / RawData that violate their schema.

The original (docs/compaction.md §4.2) reported, as JSON lines, the type entries that are not documents
(they crashed its compaction) and the records failing ``validation/<type>.schema.json``
(its golden: a delai missing ``date_creation``, a sirene_ul missing ``statut_juridique``, ...).
We check records against the parsers' pydantic models (strict), plus keys, hashes,
compact/reporder entries and RawData's stored live state.
"""

from datetime import UTC, date, datetime
from types import SimpleNamespace

from sf.compaction.job import clear_staged, compact_range, plan_compaction
from sf.compaction.validate import record_models, run_validation, validate_document, validate_documents
from sf.engine.batches import make_batch, save_batch
from sf.engine.partitions import KeyRange
from sf.engine.settings import load_settings
from sf.importers.driver import run_batch

from ..conftest import DATA
from ..importers.osf_goldens import E2E_FILES

TESTDATA = DATA / "osf"
H = "0123456789abcdef0123456789abcdef"
DELAI = {"numero_compte": "111", "numero_contentieux": "1", "date_creation": datetime(2020, 1, 1, tzinfo=UTC),
         "date_echeance": datetime(2020, 6, 1, tzinfo=UTC), "duree_delai": 150, "denomination": "X",
         "indic_6m": "INF", "annee_creation": 2020, "montant_echeancier": 10.5, "stade": "A", "action": "B"}


def _store(mongo_uri, db):
    settings = load_settings({"SF_MONGODB_URI": mongo_uri, "SF_DB": db.name})
    return SimpleNamespace(db=db, uri=mongo_uri, settings=settings)


def test_every_stored_type_has_its_parser_model():
    models = record_models()
    assert len(models) == 16 and "compte" in models and "admin_urssaf" not in models
    assert models["delai"].__name__ == "DelaiRecord"


def test_the_original_end_to_end_import_and_its_compaction_are_valid(mongo_uri, db):
    batch = make_batch("1910", files={t: [str(TESTDATA / p)] for t, p in E2E_FILES.items()},
                       date_debut=date(2019, 1, 1), date_fin=date(2019, 2, 1))
    run_batch(batch, no_filter=True, db=db)
    save_batch(db, batch)
    imported = run_validation(_store(mongo_uri, db), "ImportedData", limit=None)
    assert imported.documents == 38 and imported.records > 600 and imported.violation_count == 0, imported.violations[:3]
    plan = plan_compaction(db)
    compact_range(mongo_uri, db.name, plan, False, KeyRange(None, None))
    clear_staged(db, plan.staged_batches)
    raw = run_validation(_store(mongo_uri, db), "RawData", limit=None)
    assert raw.documents == 38 and raw.records == imported.records and raw.violation_count == 0


def _imported(types: dict, key: str = "01234567891011", scope: str = "etablissement") -> dict:
    return {"_id": f"2001:{key}", "value": {"key": key, "scope": scope, "batch": {"2001": types}}}


def test_each_violation_names_key_batch_type_hash_and_first_error():
    missing_date = {k: v for k, v in DELAI.items() if k != "date_creation"}
    doc = _imported({"delai": {H: DELAI, "1" * 32: missing_date, "not-hex": DELAI},
                     "effectif": {H: {"numero_compte": "1", "periode": datetime(2020, 1, 1, tzinfo=UTC),
                                      "effectif": "12"}},  # strict: a number stored as text is a defect
                     "cotisation": None,                      # crashed the original's compaction
                     "unknown_type": {H: {}},
                     "reporder": {}})
    found = {(v.batch, v.type, v.hash): v.error for v in validate_document(doc, "ImportedData")}
    assert found == {
        ("2001", "delai", "1" * 32): "date_creation: Field required",
        ("2001", "delai", "not-hex"): "hash: must be lowercase hexadecimal",
        ("2001", "effectif", H): "effectif: Input should be a valid integer",
        ("2001", "cotisation", None): "type entry must map hashes to records, got null/undefined",
        ("2001", "unknown_type", None): "unknown type: no record model",
        ("2001", "reporder", None): "'reporder' is produced by compaction, not imported",
    }
    assert all(v.key == "01234567891011" and v.collection == "ImportedData"
               for v in validate_document(doc, "ImportedData"))


def test_sirene_ul_without_statut_juridique_and_bad_entity_keys():
    record = {"siren": "123", "raison_sociale": "X"}
    (violation,) = validate_document(_imported({"sirene_ul": {H: record}}, "000000001", "entreprise"), "ImportedData")
    assert (violation.type, violation.hash, violation.error) == ("sirene_ul", H, "statut_juridique: Field required")
    bad_key = validate_document(_imported({}, "1234", "entreprise"), "ImportedData")
    assert [v.error for v in bad_key] == ["value.key must be a 9-digit string for scope entreprise, got '1234'"]


def test_rawdata_checks_compact_reporder_and_the_stored_state():
    periode = datetime(2020, 1, 1, tzinfo=UTC)
    value = {"key": "01234567891011", "scope": "etablissement", "batch": {
        "2001": {"delai": {H: DELAI}, "reporder": {"2020-01-01": {"periode": periode, "siret": "01234567891011",
                                                                  "random_order": 0.5}}},
        "2002": {"compact": {"delete": {"delai": [H]}},
                 "reporder": {"2020-02-01": {"periode": periode, "siret": "99999999999999", "random_order": 0.5}}}},
        "index": {"algo2": False}, "state": {"reporder": ["2020-01-01"]}, "state_batch": "2002"}
    found = [(v.batch, v.type, v.error) for v in validate_document({"_id": value["key"], "value": value}, "RawData")]
    assert found == [("2002", "reporder", "siret: must be the entity key 01234567891011, got '99999999999999'")]
    value["batch"]["2002"] = {"compact": {"delete": {"delai": [H]}}}
    assert validate_document({"_id": value["key"], "value": value}, "RawData") == []
    value["state"] = {"delai": [H], "reporder": ["2020-01-01"]}  # stale: 2002 deleted H
    (stale,) = validate_document({"_id": value["key"], "value": value}, "RawData")
    assert (stale.batch, stale.type) == ("2002", "state") and "differs" in stale.error
    value["batch"]["2002"] = {"compact": {"delete": "oops"}}
    (bad,) = validate_document({"_id": value["key"], "value": value}, "RawData")
    assert (bad.type, bad.error) == ("compact", "compact.delete must map types to lists of hashes")


def test_limit_keeps_the_first_violations_and_counts_them_all(mongo_uri, db):
    docs = [_imported({"delai": {H: {}}}, f"{i:09d}00001") for i in range(1, 41)]
    result = validate_documents(docs, "ImportedData", limit=5)
    assert (result.documents, result.violation_count, len(result.violations)) == (40, 40, 5)
    db["ImportedData"].insert_many(docs)
    over_dask = run_validation(_store(mongo_uri, db), "ImportedData", limit=5, workers=2, partitions=3, silent=True)
    assert (over_dask.documents, over_dask.violation_count) == (40, 40)
    assert [v.key for v in over_dask.violations] == [f"{i:09d}00001" for i in range(1, 6)]
