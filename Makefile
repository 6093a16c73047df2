# The two commands of the README: `make demo` and `make test`.
# Each installs what it needs: Debian's iptables, nftables, conntrack and
# iproute2 where missing (apt-get, as root), graphviz (`netc graph` lays pictures out with
# dot), runc and busybox-static (the real-runtime test, docs/runtimes.md),
# dbus-bin and dbus-daemon (the firewalld-reload watch and its test), and
# netc with its Python dependencies into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-ipv6 test test-long golden verify-long system venv clean

system:
	@missing=""; \
	for pair in ip:iproute2 iptables-restore:iptables nft:nftables conntrack:conntrack dot:graphviz runc:runc busybox:busybox-static zsh:zsh dbus-monitor:dbus-bin dbus-daemon:dbus-daemon; do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "note: missing$$missing (install them as root for the kernel tests)"; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null
	touch $@

# A plain (non-editable) install, every time: tests run what users install.
venv: $(STAMP)
	$(BIN)/pip install -q '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/pip install -q --no-deps --force-reinstall . 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/netc --version

# One worker per CPU. worksteal: a worker that runs out of tests takes half of another's
# queue (xdist's default hands out fixed chunks in file order, which put every kernel test
# on one worker and left the other idle for most of the run).
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist worksteal

test: system venv
	$(PYTEST) tests

# The same suite with the full matrices (NETC_LONG=1): every SIGKILL moment of
# tests/e2e/test_crash.py on both backends, where `make test` shares them out.
test-long: system venv
	NETC_LONG=1 $(PYTEST) tests

demo: system venv
	$(BIN)/python examples/demo.py

# The dual-stack example (examples/dual-stack.netc), its probes in IPv4 and IPv6.
demo-ipv6: system venv
	$(BIN)/python examples/demo.py dual-stack

# The benchmark suite (as root: it needs network namespaces): writes
# bench/results.json, bench/RESULTS.md and bench/plots/*.png. matplotlib is
# installed into .venv for it only (make test does not need it).
bench: system venv
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/pip install -q matplotlib 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python bench/run.py

# Rewrite golden/ from the current compiler: output trees, topology pictures and
# diagnostics in every format (the run still fails; review the diff).
golden: system venv
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_golden.py tests/test_diagnostics.py --update-golden || true
	@echo "golden/ rewritten: review it with git diff before committing"

# The differential test at length: N random topologies (default 200) per backend,
# each applied in a sandbox and probed; verify must agree with explain on every probe.
verify-long: system venv
	NETC_DIFFERENTIAL_EXAMPLES=$${N:-200} $(BIN)/python -m pytest -q -p no:cacheprovider \
	    tests/e2e/test_verify.py -k differential

clean:
	rm -rf $(VENV) build *.egg-info
