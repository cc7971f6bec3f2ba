#!/bin/sh
# The image's process kinds, with the commands platform/switchboard/supervisor.py runs
# (docs/deploy.md, "Process kinds"). Anything else is run as given (e.g. python manage.py shell).
set -eu
celery="celery -A switchboard"
role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
  web)
    # Forwarded headers are judged by the app (SWITCHBOARD_TRUSTED_PROXIES), not uvicorn.
    exec uvicorn switchboard.asgi:application --host "${SWITCHBOARD_HOST:-0.0.0.0}" \
      --port "${SWITCHBOARD_PORT:-8000}" --ws-max-size 65536 --no-access-log --lifespan off \
      --no-proxy-headers "$@" ;;
  llm)
    # Customers' replies; with a GPU engine also the side work: LLM_QUEUES=llm,llm-side.
    # SWITCHBOARD_LLM_CONCURRENCY > 1: one process, that many threads sharing the model
    # (switchboard.supervisor.llm_pool); else prefork, SWITCHBOARD_LLM_WORKERS children.
    if [ "${SWITCHBOARD_LLM_CONCURRENCY:-1}" -gt 1 ]; then
      pool="-c ${SWITCHBOARD_LLM_CONCURRENCY} -P threads"
    else
      pool="-c ${SWITCHBOARD_LLM_WORKERS:-1} -P prefork"
    fi
    # shellcheck disable=SC2086
    exec $celery worker -Q "${LLM_QUEUES:-llm}" $pool \
      -n "llm@%h" --loglevel INFO --without-gossip --without-mingle "$@" ;;
  background)
    # Below the replies in CPU priority (supervisor.BACKGROUND_NICE).
    exec nice -n 10 $celery worker -Q "${BACKGROUND_QUEUES:-celery,embeddings,llm-side}" -c 1 \
      -P prefork -n "background@%h" --loglevel INFO --without-gossip --without-mingle "$@" ;;
  webhooks)
    exec $celery worker -Q webhooks -c 2 -P prefork -n "webhooks@%h" --loglevel INFO \
      --without-gossip --without-mingle "$@" ;;
  beat)
    # Exactly one beat (docs/deploy.md); its schedule state is scratch, rebuilt on start.
    mkdir -p "${SWITCHBOARD_DATA_DIR:-/tmp/switchboard}"
    exec $celery beat -s "${SWITCHBOARD_DATA_DIR:-/tmp/switchboard}/celerybeat-schedule" \
      -l INFO "$@" ;;
  migrate)
    exec python manage.py migrate --noinput "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
