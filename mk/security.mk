# Security checks beyond `make check` (whose ruff run includes the "S" security rules).
.PHONY: audit

audit: setup  ## pip-audit of uv.lock; says plainly when the vulnerability database is out of reach (exit 3)
	$(PY) tools/audit.py
