#!/usr/bin/env bash
# Mutation testing (mutmut) of the pure-logic modules: no model, no browser, no server. Not run in CI
# (slow: every mutant is one pytest run of the module's own tests). Installs mutmut itself.
#
#   bash scripts/mutation.sh                                  # every module below, one after another
#   bash scripts/mutation.sh writing/compose/wordcount.py     # one module
#   MUTATION_BUDGET_S=900 MUTATION_JOBS=2 bash scripts/mutation.sh ...
#   MUTATION_ONLY='writing.compose.longform.x_lead__mutmut_*' bash scripts/mutation.sh writing/compose/longform.py
#
# MUTATION_ONLY (fnmatch patterns, space-separated) tests only the matching mutants (mutmut's own filter);
# writing/compose/longform.py defaults to its budget functions (see ONLY below). The table counts the
# mutants actually tested: a run cut short by the budget says so (tested < total).
#
# Each module runs in its own copy of the working tree (under $MUTATION_OUT, default a temporary
# folder), restricted to that module (only_mutate) with only its own test files as the runner, so
# the repository itself is never touched (mutmut writes a mutants/ folder next to the code).
# Prints one table row per module: killed / total (score), surviving mutants listed in
# $MUTATION_OUT/<module>.survivors.txt (`cd $MUTATION_OUT/<module>/work && mutmut show NAME`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BUDGET="${MUTATION_BUDGET_S:-1800}"   # seconds per module, then what was measured so far is reported
JOBS="${MUTATION_JOBS:-2}"
OUT="${MUTATION_OUT:-$(mktemp -d -t studio-mutation-XXXX)}"
"$PYTHON" -m pip install -q "mutmut==3.8.1"

# module -> the test files that are its runner (its own tests plus the edge-case tests kept for mutants)
declare -A TESTS=(
  [writing/compose/wordcount.py]="tests/test_wordcount.py tests/test_pure_edges.py"
  [writing/engines/params.py]="tests/test_params.py tests/test_pure_edges.py"
  [writing/engines/messages.py]="tests/test_messages.py tests/test_pure_edges.py"
  [writing/compose/prompts.py]="tests/test_prompts.py tests/test_prompt_rules.py tests/test_pure_edges.py"
  [writing/compose/language.py]="tests/test_prompts.py tests/test_pure_edges.py"
  [writing/library/presets.py]="tests/test_presets.py tests/test_preset_store_rules.py tests/test_pure_edges.py"
  [writing/access/ratelimit.py]="tests/test_auth_ratelimit.py tests/test_pure_edges.py"
  # measured last: other work changes these files, so their numbers move with it
  [writing/access/auth.py]="tests/test_auth_ratelimit.py tests/test_auth_sources.py tests/test_pure_edges.py"
  [writing/compose/outline.py]="tests/test_outline.py tests/test_outline_rules.py"
  [writing/library/export.py]="tests/test_export.py tests/test_export_rules.py tests/test_export_comparison.py"
  [writing/library/store.py]="tests/test_store.py tests/test_store_rules.py"
  # the budget functions' own tests, no model: tests/test_longform.py loads the tiny model (~30 s a mutant)
  [writing/compose/longform.py]="tests/test_longform_budget.py tests/test_longform_budget_rules.py"
)
# the long-form budget code only: prompt budget, section prompts, lead/tail, estimate and report
L=writing.compose.longform
declare -A ONLY=(
  [writing/compose/longform.py]="$L.x_outline_max_new_tokens__* $L.x_estimate_tokens__* $L.x_tokens_per_word__*
    $L.x_section_max_new_tokens__* $L.x_plan_text__* $L.x_lead__* $L.x_tail__* $L.x_summarize_before__*
    $L.x_section_messages__* $L.x_estimate__* $L.x__duration__* $L.xǁEstimateǁ* $L.x_report__* $L.xǁDocumentReportǁ*"
)
ORDER=(writing/compose/wordcount.py writing/engines/params.py writing/engines/messages.py writing/compose/prompts.py
       writing/compose/language.py writing/library/presets.py writing/access/ratelimit.py writing/access/auth.py
       writing/library/export.py writing/compose/longform.py writing/compose/outline.py writing/library/store.py)
[ "$#" -gt 0 ] && ORDER=("$@")

echo "| module | killed | survived | other | tested | total | score | time |"
echo "|---|---|---|---|---|---|---|---|"
for module in "${ORDER[@]}"; do
  tests="${TESTS[$module]:?no test files listed for $module}"
  name="$(basename "$module" .py)"
  work="$OUT/$name/work"
  rm -rf "$OUT/$name" && mkdir -p "$work"
  # the working tree as it is (tracked and untracked, not ignored files)
  git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work" 2>/dev/null || true
  {
    echo "[mutmut]"
    echo "source_paths = writing/"
    echo "only_mutate = $module"
    printf 'also_copy =\n    presets/\n    studio.py\n'
    printf 'pytest_add_cli_args =\n    -p\n    no:cacheprovider\n'
    echo "pytest_add_cli_args_test_selection ="
    for t in $tests; do if [ -e "$t" ]; then echo "    $t"; fi; done  # a listed file not on this branch is left out
  } > "$work/setup.cfg"
  started=$(date +%s)
  only="${MUTATION_ONLY:-${ONLY[$module]:-}}"
  # shellcheck disable=SC2086  # the patterns are words on purpose (fnmatch, matched by mutmut)
  ( set -f && cd "$work" && HYPOTHESIS_PROFILE=ci timeout "$BUDGET" "$PYTHON" -m mutmut run --max-children "$JOBS" $only \
      > "$OUT/$name.log" 2>&1 ) || echo "  ($module: mutmut ended with $? — see $OUT/$name.log)" >&2
  took=$(( $(date +%s) - started ))
  ( cd "$work" && "$PYTHON" -m mutmut export-cicd-stats >/dev/null 2>&1 && \
    "$PYTHON" -m mutmut results > "$OUT/$name.survivors.txt" 2>/dev/null ) || true
  "$PYTHON" - "$work/mutants/mutmut-cicd-stats.json" "$module" "$took" <<'PY'
import json, sys
path, module, took = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    s = json.load(open(path))
except OSError:
    print(f"| {module} | - | - | - | - | - | not measured | {took}s |")
    raise SystemExit
killed, survived, total = s.get("killed", 0) + s.get("timeout", 0), s.get("survived", 0), s.get("total", 0)
# mutants with a result; the rest were filtered out (MUTATION_ONLY) or not reached within the budget
other = sum(s.get(k, 0) for k in ("no_tests", "suspicious", "segfault", "check_was_interrupted_by_user"))
tested = killed + survived + other
score = 100 * killed / tested if tested else 0
print(f"| {module} | {killed} | {survived} | {other} | {tested} | {total} | {score:.0f}% | {took // 60}m{took % 60:02d}s |")
PY
done
echo "(details: $OUT)"
