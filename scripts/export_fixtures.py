"""Regenerate fixtures/histories/: run each sample workflow on a fresh engine and export it.

    .venv/bin/python scripts/export_fixtures.py [-o fixtures/histories]

Runs on a virtual clock starting at a fixed time, with fixed workflow ids, run ids and
seeds, so a regenerated file differs only where the workflow really is nondeterministic
(the payment's side effect reads the real clock — that is what side effects are for).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixtures.workflows import engine_checks, onboarding, orders, payments  # noqa: E402
from replaytest import Engine  # noqa: E402
from replaytest.engine import VirtualClock, WorkflowFailedError  # noqa: E402

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ITEMS = [{"sku": "tea-sencha", "price": 12.5, "qty": 2}, {"sku": "mug", "price": 9.99, "qty": 1}]
ORDER = {"id": "42", "email": "ada@example.com", "card": "4242-4242-4242-4242", "items": ITEMS}


def _ids(workflow_id: str, seed: int) -> dict:
    return {"id": workflow_id, "seed": seed, "run_id": uuid.uuid5(uuid.NAMESPACE_URL, f"replaytest:{workflow_id}").hex}


def _engine(tmp: Path, name: str, *modules: object) -> Engine:
    """A fresh engine per sample, so each history starts at START whatever ran before it."""
    return Engine(tmp / f"{name}.db", clock=VirtualClock(start=START)).register(*modules)


def record(tmp: Path) -> dict[str, Engine]:
    """Run the samples; return the engine that holds each workflow id to export."""
    orders_engine = _engine(tmp, "orders", orders)
    orders_engine.start(orders.process_order, ORDER, **_ids("order-42", 42)).result()
    declined = {**ORDER, "id": "43", "card": "4000-0000-0000-0002"}
    try:
        orders_engine.start(orders.process_order, declined, **_ids("order-43", 43)).result()
    except WorkflowFailedError:
        pass  # expected: the card is declined

    payments_engine = _engine(tmp, "payments", payments)
    payments_engine.start(
        payments.process_payment, {"id": "3", "amount": 120.0, "currency": "EUR"}, **_ids("payment-3", 3)
    ).result()

    onboarding_engine = _engine(tmp, "onboarding", onboarding)
    user = onboarding_engine.start(
        onboarding.onboarding,
        {"id": "u7", "email": "grace@example.com", "days_between_offers": 7, "max_offers": 3},
        **_ids("onboarding-7", 7),
    )
    onboarding_engine.sleep(timedelta(days=15))  # welcome email, then offers on day 7 and day 14
    onboarding_engine.signal("onboarding-7", "subscription", "subscribed")
    user.result()

    # The hotfix story: code before the fix charges the card, then divides by zero on a gift-card-only order.
    # Its history ends in WorkflowTaskFailed; replaying it with today's orders.process_order completes it.
    hotfix_engine = _engine(tmp, "hotfix", engine_checks.process_order_before_hotfix, orders)
    gift_cards = {**ORDER, "id": "44", "items": [{"sku": "gift-card", "price": 25.0, "qty": 2, "gift_card": True}]}
    hotfix_engine.start(engine_checks.process_order_before_hotfix, gift_cards, **_ids("order-44", 44))
    hotfix_engine.work()
    return {
        "order-42": orders_engine,
        "order-43": orders_engine,
        "payment-3": payments_engine,
        "onboarding-7": onboarding_engine,
        "order-44": hotfix_engine,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "fixtures" / "histories"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        engines = record(Path(tmp))
        for workflow_id, engine in engines.items():
            history = engine.history(workflow_id)
            path = history.save(Path(args.output) / f"{workflow_id}.json")
            print(f"{path}: {len(history)} events, {history.status}")
        for engine in set(engines.values()):
            engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
