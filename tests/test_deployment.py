"""docker-compose.yml and Dockerfile are checked statically: no Docker engine runs in CI."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_mongodb_volume_and_healthcheck():
    compose = _compose()
    services = compose["services"]
    assert {"mongodb", "dask-scheduler", "dask-worker", "sf"} <= set(services)
    mongodb = services["mongodb"]
    assert mongodb["image"].startswith("mongo:8")
    volume = mongodb["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], "MongoDB data must live on a named volume"
    assert "ping" in " ".join(mongodb["healthcheck"]["test"])


def test_cli_and_workers_share_the_database_and_scheduler():
    services = _compose()["services"]
    cli, worker = services["sf"]["environment"], services["dask-worker"]["environment"]
    for variable in ("SF_MONGODB_URI", "SF_DB", "SF_DASK_SCHEDULER"):
        assert cli[variable] == worker[variable], variable
    assert cli["SF_MONGODB_URI"].startswith("mongodb://mongodb:")
    assert cli["SF_DASK_SCHEDULER"] == "tcp://dask-scheduler:8786"
    assert "dask-scheduler:8786" in " ".join(services["dask-worker"]["entrypoint"])
    assert services["sf"]["depends_on"]["mongodb"]["condition"] == "service_healthy"


def test_images_are_built_from_the_root_dockerfile():
    services = _compose()["services"]
    assert services["dask-scheduler"]["build"] == "."
    assert {services[s]["image"] for s in ("dask-scheduler", "dask-worker", "sf")} == {"sf:latest"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in dockerfile and 'ENTRYPOINT ["sf"]' in dockerfile
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for folder in package_dir.values():  # every package the wheel needs is copied into the image
        assert f"COPY {folder} ./{folder}" in dockerfile, folder
