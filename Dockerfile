# The `sf` command line, for docker-compose and batch jobs (see README, "Running on a real
# MongoDB and a Dask cluster"). The same image serves as Dask worker, so workers run the
# same code as the client.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/sf
COPY pyproject.toml README.md ./
COPY store ./store
COPY engine ./engine
COPY importers ./importers
COPY compaction ./compaction
COPY features ./features
COPY model ./model
COPY reports ./reports
COPY synth ./synth
COPY cli ./cli
RUN pip install . && useradd --create-home sf
USER sf
WORKDIR /home/sf
ENV SF_HOME=/home/sf/.sf
ENTRYPOINT ["sf"]
CMD ["--help"]
