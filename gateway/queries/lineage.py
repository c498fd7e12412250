"""Lineage: how a message became stored values and rated lines, and which messages and values a result rests on.

The answer is a small graph. Nodes are typed (`message`, `transaction`, `accounting_point`, `master_data`,
`agreement`, `customer`, `metering_series`, `rating_result`, `assignment`, and from invoicing `invoice_line`,
`invoice`, `adjustment`, and from receivables `payment`, `allocation`); node ids are `type:key`
(`message:in-42`, `metering_series:7`). Edges always point the way the data flowed (message → transaction →
metering_series → rating_result), whichever way the graph was walked:

* `downstream(session, node)` — from a message (or any node) to what was made of it;
* `upstream(session, node)` — from a result back to the messages and values behind it.

Each step from one node type to the next is a function registered in `DOWNSTREAM` / `UPSTREAM`. Invoicing adds
its steps (rating_result → invoice_line → invoice → the released document, and back: `lineage_billing`) and
receivables theirs (invoice → payment) with `register_step` and `register_root`, without touching the walk;
the graph's JSON form stays the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.domain.periods import HELSINKI
from gateway.queries.messages import MessageRef, summaries
from gateway.rating.core.quality import ESTIMATED_CODES, MISSING_CODES
from gateway.store.metering import unpack
from gateway.store.rating_tables import ProductAssignmentRow, RatingResult
from gateway.store.tables import (
    AccountingPointRow,
    CustomerRow,
    MeteringSeriesRow,
    OutboundMessage,
    SalesAgreementRow,
    TransactionRecord,
)

MAX_NODES: Final = 5000


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    label: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.id.split(":", 1)[1]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "label": self.label, "data": self.data}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    relation: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "relation": self.relation}


@dataclass
class Lineage:
    root: str
    direction: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False

    @property
    def message_ids(self) -> list[str]:
        return sorted(n.key for n in self.nodes.values() if n.type == "message")

    def of_type(self, node_type: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.type == node_type]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.root, "root": self.root, "direction": self.direction,
            "nodes": [n.to_json() for n in self.nodes.values()],
            "edges": [e.to_json() for e in self.edges],
            "message_ids": self.message_ids, "truncated": self.truncated,
        }


# A step takes the keys of nodes of one type and returns the nodes it reached and the edges to them.
Step = Callable[[Session, Sequence[str]], tuple[list[Node], list[Edge]]]
DOWNSTREAM: dict[str, list[Step]] = {}
UPSTREAM: dict[str, list[Step]] = {}


def register_step(node_type: str, direction: str, step: Step) -> None:
    """Add a way to walk on from nodes of `node_type` (direction `downstream` or `upstream`)."""
    table = DOWNSTREAM if direction == "downstream" else UPSTREAM if direction == "upstream" else None
    if table is None:
        raise ValueError("direction must be 'downstream' or 'upstream'")
    table.setdefault(node_type, []).append(step)


def node_id(node_type: str, key: object) -> str:
    return f"{node_type}:{key}"


def _walk(session: Session, root: Node, steps: dict[str, list[Step]], direction: str) -> Lineage:
    graph = Lineage(root.id, direction, {root.id: root})
    frontier: dict[str, list[str]] = {root.type: [root.key]}
    seen_edges: set[tuple[str, str, str]] = set()
    while frontier:
        reached: dict[str, list[str]] = {}
        for node_type, keys in frontier.items():
            for step in steps.get(node_type, ()):
                nodes, edges = step(session, keys)
                for node in nodes:
                    if node.id in graph.nodes:
                        continue
                    if len(graph.nodes) >= MAX_NODES:
                        graph.truncated = True
                        break
                    graph.nodes[node.id] = node
                    reached.setdefault(node.type, []).append(node.key)
                for edge in edges:
                    ident = (edge.source, edge.target, edge.relation)
                    if ident not in seen_edges and edge.source in graph.nodes and edge.target in graph.nodes:
                        seen_edges.add(ident)
                        graph.edges.append(edge)
        frontier = reached
    return graph


# Makes the nodes of one type from their keys (with their data): the nodes a walk may start from.
NodeMaker = Callable[[Session, Sequence[str]], list[Node]]
ROOTS: dict[str, NodeMaker] = {}


def register_root(node_type: str, maker: NodeMaker) -> None:
    """Let walks start at nodes of `node_type` (`root_node`)."""
    ROOTS[node_type] = maker


def root_node(session: Session, node_type: str, key: str) -> Node | None:
    """The node a walk starts from, with its data, or None if it does not exist."""
    if node_type not in ROOTS:
        raise ValueError(f"a lineage cannot start at a {node_type}")
    found = ROOTS[node_type](session, [key])
    return found[0] if found else None


def downstream(session: Session, root: Node) -> Lineage:
    return _walk(session, root, DOWNSTREAM, "downstream")


def upstream(session: Session, root: Node) -> Lineage:
    return _walk(session, root, UPSTREAM, "upstream")


# -- node makers --------------------------------------------------------------------------------------------
def _message_nodes(session: Session, keys: Sequence[str]) -> list[Node]:
    refs = []
    for key in keys:
        try:
            refs.append(MessageRef.parse(key))
        except LookupError:
            continue
    found = summaries(session, refs)
    return [Node(node_id("message", s.id), "message", f"{s.document_type or '?'} {s.message_id or s.id}", {
        "direction": s.direction, "document_type": s.document_type, "message_id": s.message_id,
        "status": s.status, "at": s.at.isoformat(), "party": s.party,
    }) for s in (found[r.id] for r in refs if r.id in found)]


def _series_summary(row: MeteringSeriesRow) -> dict[str, Any]:
    values, quality = unpack(row)
    present = ~np.isin(quality, MISSING_CODES)
    total = int(values[present].sum()) if values.size else 0
    return {
        "accounting_point": row.accounting_point, "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(), "resolution": row.resolution, "version": row.version,
        "unit": row.unit, "positions": row.positions, "total": f"{total / 1_000_000:.6f}",
        "estimated": int(np.isin(quality, ESTIMATED_CODES).sum()), "missing": int((~present).sum()),
        "transaction_id": row.transaction_id, "message": f"in-{row.message_pk}",
    }


def _series_node(row: MeteringSeriesRow) -> Node:
    label = f"{row.accounting_point} {row.period_start:%Y-%m-%d %H:%M}Z v{row.version}"
    return Node(node_id("metering_series", row.id), "metering_series", label, _series_summary(row))


def _series_nodes(session: Session, keys: Sequence[str]) -> list[Node]:
    ids = [int(k) for k in keys if k.isdigit()]
    rows = session.execute(select(MeteringSeriesRow).where(col(MeteringSeriesRow.id).in_(ids))).scalars()
    return [_series_node(r) for r in rows]


def _rating_node(row: RatingResult) -> Node:
    return Node(node_id("rating_result", row.id), "rating_result",
                f"{row.accounting_point} {row.period_start}…{row.period_end} r{row.revision}", {
                    "accounting_point": row.accounting_point, "period_start": row.period_start.isoformat(),
                    "period_end": row.period_end.isoformat(), "revision": row.revision, "total": row.total,
                    "delta_total": row.delta_total, "cause": row.cause, "created_at": row.created_at.isoformat(),
                })


def _rating_nodes(session: Session, keys: Sequence[str]) -> list[Node]:
    ids = [int(k) for k in keys if k.isdigit()]
    return [_rating_node(r) for r in session.execute(
        select(RatingResult).where(col(RatingResult.id).in_(ids))).scalars()]


def _point_node(gsrn: str) -> Node:
    return Node(node_id("accounting_point", gsrn), "accounting_point", gsrn, {"gsrn": gsrn})


def _chunks(keys: Sequence[Any], size: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(keys), size):
        yield list(keys[i:i + size])


def _inbound_pks(keys: Sequence[str]) -> list[int]:
    pks = []
    for key in keys:
        try:
            ref = MessageRef.parse(key)
        except LookupError:
            continue
        if ref.kind == "in":
            pks.append(ref.pk)
    return pks


# -- downstream steps ---------------------------------------------------------------------------------------
def _message_to_transactions(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    nodes: list[Node] = []
    edges: list[Edge] = []
    for chunk in _chunks(_inbound_pks(keys)):
        for t in session.execute(select(TransactionRecord).where(col(TransactionRecord.message_pk).in_(chunk))
                                 ).scalars():
            node = Node(node_id("transaction", t.id), "transaction", t.transaction_id, {
                "transaction_id": t.transaction_id, "accounting_point": t.accounting_point, "status": t.status})
            nodes.append(node)
            edges.append(Edge(node_id("message", f"in-{t.message_pk}"), node.id, "carries"))
            if t.accounting_point:
                nodes.append(_point_node(t.accounting_point))
                edges.append(Edge(node.id, node_id("accounting_point", t.accounting_point), "concerns"))
    return nodes, edges


def _message_to_stored(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    """What the message stored: metering versions, master data, agreements (and those it ended), customers."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    for chunk in _chunks(_inbound_pks(keys)):
        for s in session.execute(select(MeteringSeriesRow).where(col(MeteringSeriesRow.message_pk).in_(chunk))
                                 ).scalars():
            node = _series_node(s)
            nodes += [node, _point_node(s.accounting_point)]
            edges += [Edge(node_id("message", f"in-{s.message_pk}"), node.id, "stored_as"),
                      Edge(node.id, node_id("accounting_point", s.accounting_point), "of")]
        for p in session.execute(select(AccountingPointRow).where(col(AccountingPointRow.message_pk).in_(chunk))
                                 ).scalars():
            node = _master_node(p)
            nodes += [node, _point_node(p.gsrn)]
            edges += [Edge(node_id("message", f"in-{p.message_pk}"), node.id, "stored_as"),
                      Edge(node.id, node_id("accounting_point", p.gsrn), "of")]
        agreements = session.execute(select(SalesAgreementRow).where(
            col(SalesAgreementRow.message_pk).in_(chunk) | col(SalesAgreementRow.ended_by_message_pk).in_(chunk)
        )).scalars()
        for a in agreements:
            node = _agreement_node(a)
            nodes += [node, _point_node(a.accounting_point)]
            edges.append(Edge(node.id, node_id("accounting_point", a.accounting_point), "of"))
            if a.message_pk in chunk:
                edges.append(Edge(node_id("message", f"in-{a.message_pk}"), node.id, "stored_as"))
            if a.ended_by_message_pk in chunk:
                edges.append(Edge(node_id("message", f"in-{a.ended_by_message_pk}"), node.id, "ended"))
        for c in session.execute(select(CustomerRow).where(col(CustomerRow.message_pk).in_(chunk))).scalars():
            node = Node(node_id("customer", c.id), "customer", c.name, {
                "name": c.name, "identification_type": c.identification_type,
                "identification": c.identification_masked})
            nodes.append(node)
            edges.append(Edge(node_id("message", f"in-{c.message_pk}"), node.id, "stored_as"))
    return nodes, edges


def _outbound_to_point(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    pks = []
    for key in keys:
        ref = MessageRef.parse(key) if key[:4] == "out-" else None
        if ref is not None:
            pks.append(ref.pk)
    nodes: list[Node] = []
    edges: list[Edge] = []
    for pk, point in session.execute(select(col(OutboundMessage.id), col(OutboundMessage.accounting_point))
                                     .where(col(OutboundMessage.id).in_(pks))).all():
        if point:
            nodes.append(_point_node(point))
            edges.append(Edge(node_id("message", f"out-{pk}"), node_id("accounting_point", point), "concerns"))
    return nodes, edges


def _local_day(instant: datetime) -> date:
    return instant.astimezone(HELSINKI).date()


def _ratings_of(session: Session, points: set[str], first: date, last: date) -> list[RatingResult]:
    """Rating results of these points whose local-day period touches [first, last]."""
    found: list[RatingResult] = []
    for chunk in _chunks(sorted(points)):
        found += session.execute(select(RatingResult).where(
            col(RatingResult.accounting_point).in_(chunk), col(RatingResult.period_start) <= last,
            col(RatingResult.period_end) >= first,
        )).scalars().all()
    return found


def _series_to_ratings(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    ids = [int(k) for k in keys if k.isdigit()]
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows += session.execute(
            select(col(MeteringSeriesRow.id), col(MeteringSeriesRow.accounting_point),
                   col(MeteringSeriesRow.period_start), col(MeteringSeriesRow.period_end))
            .where(col(MeteringSeriesRow.id).in_(chunk))).all()
    if not rows:
        return [], []
    first = min(_local_day(r[2]) for r in rows) - timedelta(days=1)
    last = max(_local_day(r[3]) for r in rows) + timedelta(days=1)
    wanted = {int(r[0]) for r in rows}
    nodes: list[Node] = []
    edges: list[Edge] = []
    for rating in _ratings_of(session, {r[1] for r in rows}, first, last):
        used = {int(pair[0]) for pair in rating.inputs.get("metering", [])} & wanted
        if used:
            node = _rating_node(rating)
            nodes.append(node)
            edges += [Edge(node_id("metering_series", s), node.id, "rated_in") for s in sorted(used)]
    return nodes, edges


def _inputs_to_ratings(kind: str, input_key: str) -> Step:
    """Rating results that list one of these rows among their inputs (master data or agreements)."""

    def step(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
        ids = {int(k) for k in keys if k.isdigit()}
        model = AccountingPointRow if kind == "master_data" else SalesAgreementRow
        point_col = col(AccountingPointRow.gsrn) if kind == "master_data" else col(SalesAgreementRow.accounting_point)
        points = set(session.execute(select(point_col).where(col(model.id).in_(list(ids)))).scalars())
        nodes: list[Node] = []
        edges: list[Edge] = []
        for rating in _ratings_of(session, points, date.min, date.max):
            used = rating.inputs.get(input_key)
            used_ids = set(used) if isinstance(used, list) else {used}
            for row_id in sorted(i for i in used_ids if i in ids):
                node = _rating_node(rating)
                nodes.append(node)
                edges.append(Edge(node_id(kind, row_id), node.id, "rated_in"))
        return nodes, edges

    return step


def _master_node(p: AccountingPointRow) -> Node:
    return Node(node_id("master_data", p.id), "master_data", f"{p.gsrn} from {p.valid_from:%Y-%m-%d}", {
        "gsrn": p.gsrn, "valid_from": p.valid_from.isoformat(), "grid_area": p.grid_area,
        "metering_method": p.metering_method, "resolution": p.resolution, "main_fuse": p.main_fuse,
        "tax_category": p.tax_category, "message": f"in-{p.message_pk}"})


def _agreement_node(a: SalesAgreementRow) -> Node:
    return Node(node_id("agreement", a.id), "agreement", f"{a.agreement_id or a.id} {a.product_code or ''}".strip(), {
        "agreement_id": a.agreement_id, "accounting_point": a.accounting_point, "product_code": a.product_code,
        "start": a.start.isoformat() if a.start else None, "end": a.end.isoformat() if a.end else None,
        "status": a.status, "message": f"in-{a.message_pk}",
        "ended_by": f"in-{a.ended_by_message_pk}" if a.ended_by_message_pk else None})


# -- upstream steps -----------------------------------------------------------------------------------------
def _rating_inputs(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    ids = [int(k) for k in keys if k.isdigit()]
    nodes: list[Node] = []
    edges: list[Edge] = []
    for rating in session.execute(select(RatingResult).where(col(RatingResult.id).in_(ids))).scalars():
        target = node_id("rating_result", rating.id)
        inputs = rating.inputs
        series_ids = [int(pair[0]) for pair in inputs.get("metering", [])]
        for chunk in _chunks(series_ids):
            for s in session.execute(select(MeteringSeriesRow).where(col(MeteringSeriesRow.id).in_(chunk))).scalars():
                node = _series_node(s)
                nodes.append(node)
                edges.append(Edge(node.id, target, "rated_in"))
        if inputs.get("master_data") is not None:
            p = session.get(AccountingPointRow, int(inputs["master_data"]))
            if p is not None:
                nodes.append(_master_node(p))
                edges.append(Edge(node_id("master_data", p.id), target, "rated_in"))
        agreement_ids = [int(i) for i in inputs.get("agreements", [])]
        for a in session.execute(select(SalesAgreementRow).where(col(SalesAgreementRow.id).in_(agreement_ids))
                                 ).scalars():
            nodes.append(_agreement_node(a))
            edges.append(Edge(node_id("agreement", a.id), target, "rated_in"))
        assignment_ids = [int(i) for i in inputs.get("assignments", []) if i is not None]
        for row in session.execute(select(ProductAssignmentRow).where(col(ProductAssignmentRow.id).in_(assignment_ids))
                                   ).scalars():
            node = Node(node_id("assignment", row.id), "assignment", f"{row.product_code} from {row.valid_from}", {
                "product_code": row.product_code, "segment": row.segment, "valid_from": row.valid_from.isoformat(),
                "valid_to": row.valid_to.isoformat() if row.valid_to else None, "source": row.source})
            nodes.append(node)
            edges.append(Edge(node.id, target, "rated_in"))
        if inputs.get("price_import") is not None:
            nodes += _message_nodes(session, [f"price-{int(inputs['price_import'])}"])
            edges.append(Edge(node_id("message", f"price-{int(inputs['price_import'])}"), target, "priced"))
        if rating.catalogue_version_id is not None:
            nodes += _message_nodes(session, [f"catalogue-{rating.catalogue_version_id}"])
            edges.append(Edge(node_id("message", f"catalogue-{rating.catalogue_version_id}"), target, "priced"))
    return nodes, edges


def _stored_to_message(kind: str) -> Step:
    """From stored rows (series, master data, agreements) back to the messages that carried them."""

    def step(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
        ids = [int(k) for k in keys if k.isdigit()]
        model: Any = {"metering_series": MeteringSeriesRow, "master_data": AccountingPointRow,
                      "agreement": SalesAgreementRow}[kind]
        pairs: list[tuple[int, int]] = []
        for chunk in _chunks(ids):
            pairs += [(int(a), int(b)) for a, b in session.execute(
                select(col(model.id), col(model.message_pk)).where(col(model.id).in_(chunk))).all()]
        nodes = _message_nodes(session, sorted({f"in-{m}" for _, m in pairs}))
        edges = [Edge(node_id("message", f"in-{m}"), node_id(kind, i), "stored_as") for i, m in pairs]
        return nodes, edges

    return step


register_step("message", "downstream", _message_to_transactions)
register_step("message", "downstream", _message_to_stored)
register_step("message", "downstream", _outbound_to_point)
register_step("metering_series", "downstream", _series_to_ratings)
register_step("master_data", "downstream", _inputs_to_ratings("master_data", "master_data"))
register_step("agreement", "downstream", _inputs_to_ratings("agreement", "agreements"))
register_step("rating_result", "upstream", _rating_inputs)
register_step("metering_series", "upstream", _stored_to_message("metering_series"))
register_step("master_data", "upstream", _stored_to_message("master_data"))
register_step("agreement", "upstream", _stored_to_message("agreement"))
register_root("message", _message_nodes)
register_root("rating_result", _rating_nodes)
register_root("metering_series", _series_nodes)

# Invoicing's steps (rating result → invoice line → invoice → its released document, and back) and receivables'
# (bank file → payment → allocation → invoice, and back) live in their own modules, which register them with the
# functions above; imported last so that they find them defined.
from gateway.queries import lineage_billing as _billing  # noqa: E402, F401
from gateway.queries import lineage_payments as _payments  # noqa: E402, F401
