#!/usr/bin/env bash
# The replaytest demo (`make demo`): run the sample workflows on the embedded engine, export
# their histories, replay them with pytest, then replay one against a broken code change and
# show the report that catches it. Every step is a real command, printed before it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=demo-out
DB="$OUT/engine.db"
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Commands are printed shell-quoted (shlex.join), so each one pastes into a shell unchanged.
show() { printf '$ %s\n' "$(python -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' "$@")"; }
show_line() { printf '$ %s\n' "$1"; }  # a line of shell syntax (process substitution), shown as written
run()  { show "$@"; "$@"; }

ORDER='{"id": "1001", "email": "ada@example.com", "card": "4242-4242-4242-4242", "items": [{"sku": "tea-sencha", "price": 12.5, "qty": 2}, {"sku": "mug", "price": 9.99, "qty": 1}]}'
DECLINED='{"id": "1002", "email": "bob@example.com", "card": "4000-0000-0000-0002", "items": [{"sku": "mug", "price": 9.99, "qty": 1}]}'
PAYMENT='{"id": "7", "amount": 120.0, "currency": "EUR", "transient_failures": 2}'
USER='{"id": "u9", "email": "grace@example.com", "days_between_offers": 7, "max_offers": 3}'

step "1. Run sample workflows on the embedded engine (SQLite: $DB; a virtual clock skips timers and retry backoff)"
run replaytest run fixtures.workflows.orders:process_order --input "$ORDER" --id order-1001 --db "$DB"
show replaytest run fixtures.workflows.orders:process_order --input "$DECLINED" --id order-1002 --db "$DB"
if replaytest run fixtures.workflows.orders:process_order --input "$DECLINED" --id order-1002 --db "$DB"; then
  echo "demo: expected the declined card to fail the workflow" >&2; exit 1
fi
run replaytest run fixtures.workflows.payments:process_payment --input "$PAYMENT" --id payment-7 --db "$DB"
run replaytest start fixtures.workflows.onboarding:onboarding --input "$USER" --id onboarding-9 --db "$DB"
run replaytest signal onboarding-9 subscription --payload '"subscribed"' --db "$DB"
run replaytest worker --module fixtures.workflows.onboarding --until-idle --virtual-clock --db "$DB"
run replaytest list --db "$DB"

step "2. Read one history as a timeline"
run replaytest show payment-7 --db "$DB"

step "3. Export every history as JSON (one event per line, validated by the published schema)"
run replaytest export --all -o "$OUT/histories" --db "$DB"
run ls "$OUT/histories"

step "4. Replay the current code against every history: the CI check"
run pytest -p no:cacheprovider --replay "$OUT/histories" -v

step "5. A code change that breaks workflows in flight: the confirmation email moved before the charge"
# the process_order functions of both versions (shell syntax: shown as written, pastes into bash)
DIFF="diff -u --label fixtures/workflows/orders.py --label fixtures/broken/orders_v2.py \
<(sed -n '/^async def process_order/,\$p' fixtures/workflows/orders.py) \
<(sed -n '/^async def process_order/,\$p' fixtures/broken/orders_v2.py)"
show_line "$DIFF"
bash -c "$DIFF" || true
show pytest -p no:cacheprovider --replay "$OUT/histories/order-1001.json" --replay-module fixtures.broken.orders_v2
if pytest -p no:cacheprovider --replay "$OUT/histories/order-1001.json" --replay-module fixtures.broken.orders_v2; then
  echo "demo: the broken version replayed cleanly; it should have been caught" >&2; exit 1
fi

step "Done"
echo "The broken change was caught before deployment: event, recorded vs issued, and the source line above."
echo "Next: docs/quickstart.md, and \`make test\` for the whole test suite."
