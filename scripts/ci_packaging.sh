#!/usr/bin/env bash
# Build the desktop bundle (packaging/build.py) and run its end-to-end test, when it may have
# changed: something under packaging/ or tests/packaging/, pyproject.toml or scripts/install.sh
# differs from the base commit, or TOMES_BUILD_BUNDLE=1. TOMES_BUILD_BUNDLE=0 always skips.
#
# The base is the merge-base with origin/main on a branch, the previous commit (HEAD~1) on main,
# or TOMES_BASE_REF when set. Uncommitted and untracked changes count too (local runs). When the
# base cannot be seen (shallow clone, first commit, not a git checkout) it builds: better a few
# minutes more than a broken bundle. In CI, check out with fetch-depth 2 or more to allow skipping.
#
# `scripts/ci_packaging.sh --dry-run` only prints the decision.
#
# Cost on 2 cores: ~1 min to build, ~40 s to test (the real model's first answer included).
set -euo pipefail
cd "$(dirname "$0")/.."

WATCHED=(packaging tests/packaging pyproject.toml scripts/install.sh)

decide() {
  # Prints why it builds ("build: …") or why not ("skip: …").
  case "${TOMES_BUILD_BUNDLE:-}" in
    1) echo "build: TOMES_BUILD_BUNDLE=1"; return ;;
    0) echo "skip: TOMES_BUILD_BUNDLE=0"; return ;;
  esac
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "build: not a git checkout, cannot tell what changed"; return
  fi
  local base="${TOMES_BASE_REF:-}"
  if [ -z "$base" ]; then
    local head main_base=""
    head=$(git rev-parse HEAD)
    if git rev-parse -q --verify origin/main >/dev/null 2>&1; then
      main_base=$(git merge-base HEAD origin/main 2>/dev/null || true)
    fi
    if [ -n "$main_base" ] && [ "$main_base" != "$head" ]; then
      base=$main_base  # a branch: everything it changed since it left main
    elif git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null 2>&1; then
      base=HEAD~1  # main itself: the last commit
    elif [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = "true" ]; then
      echo "build: shallow clone, the previous commit is not here"; return
    else
      echo "build: first commit"; return
    fi
  elif ! git rev-parse -q --verify "${base}^{commit}" >/dev/null 2>&1; then
    echo "build: TOMES_BASE_REF=$base is not a commit here"; return
  fi
  local changed
  changed=$(
    {
      git diff --name-only "$base" -- "${WATCHED[@]}"
      git ls-files --others --exclude-standard -- "${WATCHED[@]}"
    } | sort -u
  )
  if [ -n "$changed" ]; then
    echo "build: changed since $(git rev-parse --short "$base"): $(echo "$changed" | head -5 | tr '\n' ' ')"
  else
    echo "skip: nothing in ${WATCHED[*]} changed since $(git rev-parse --short "$base") (TOMES_BUILD_BUNDLE=1 builds anyway)"
  fi
}

verdict=$(decide)
echo "ci_packaging: $verdict" >&2
[ "${verdict%%:*}" = "build" ] || exit 0
[ "${1:-}" = "--dry-run" ] && exit 0

vpy=.venv/bin/python
if ! "$vpy" -c 'import PyInstaller' >/dev/null 2>&1; then
  echo "ci_packaging: installing PyInstaller (the [packaging] extra)…" >&2
  "$vpy" -m pip install -q -e ".[packaging]"
fi
started=$SECONDS
# The test builds dist/tomes (incrementally, in build/pyinstaller), then drives the executable.
TOMES_BUILD_BUNDLE=1 "$vpy" -m pytest -m packaging tests/packaging/test_bundle.py -rA -s -q
echo "ci_packaging: bundle built and tested in $((SECONDS - started)) s" >&2
