# The two commands of the README. Both set everything up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_ORG ?= org_demo

.PHONY: install run test bench browser

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	@KEY=$$($(PY) manage.py create_api_key --org $(DEMO_ORG) --name demo | tail -n 1); \
	echo; echo "Demo API key (shown once): $$KEY"; echo; \
	echo "Try it:"; \
	echo "  curl -N http://$(HOST):$(PORT)/v1/model/response -H 'X-API-Key: $$KEY' -H 'Content-Type: application/json' -d '{\"model\": \"echo\", \"stream\": true, \"inputs\": [{\"role\": \"user\", \"content\": \"Hello from Freddy\"}]}'"; \
	echo
	@# A demo admin with a fresh random password on first run; later runs keep it.
	@PW=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(12))'); \
	if DJANGO_SUPERUSER_PASSWORD=$$PW $(PY) manage.py createsuperuser --noinput \
	     --username admin --email admin@example.com >/dev/null 2>&1; then \
	  echo "Admin: http://$(HOST):$(PORT)/admin/  user admin, password $$PW (shown once)"; \
	else \
	  echo "Admin: http://$(HOST):$(PORT)/admin/  (another admin: $(PY) manage.py createsuperuser)"; \
	fi; \
	echo "API docs: http://$(HOST):$(PORT)/docs/  OpenAPI 3 schema: http://$(HOST):$(PORT)/v1/openapi.json"; \
	echo
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) freddy.asgi:application

# Browser tests drive Debian's Chromium; no browser is downloaded.
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

test: install browser
	$(PY) -m pytest

$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

# Needs PostgreSQL and Redis on 127.0.0.1 (BENCH_POSTGRES_URL, BENCH_REDIS_URL override).
# 1,000 streams need more open files than the usual 1,024.
bench: $(VENV)/.bench-installed
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(PY) -m bench
