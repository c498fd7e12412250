"""F08 `RequestMeasuredDataInfoMessage` (metering data request, DH-221..223) ⇄ `F08Message`."""

from __future__ import annotations

from typing import Final

from gateway.domain.codes import SCHEME_EIC, SCHEME_GS1, DocumentType
from gateway.domain.message import DatahubMessage
from gateway.domain.requests import F08Message, MeteringDataRequest, RequestedProduct
from mappings.common import (
    DocumentSpec,
    Element,
    all_texts,
    children_by_name,
    message_parts,
    optional_bool,
    optional_text,
    parse_context,
    parse_datetime,
    parse_header,
    required_text,
    serialize,
    start_message,
    sub,
    sub_bool,
    sub_dt,
    sub_nfi,
    sub_opt,
    sub_scheme,
    transaction,
)

SPEC: Final = DocumentSpec(
    document_type=DocumentType.F08,
    root_ns="urn:fi:Datahub:mif:metering:F08_RequestMeasuredDataInfo:v1",
    elm_ns="urn:fi:Datahub:mif:metering:F08_RequestMeasuredDataInfo:elements:v1",
    root_name="RequestMeasuredDataInfoMessage",
    wrapper_name="RequestMeasuredDataInfo",
    xsd="metering/F08_RequestMeasuredDataInfo.xsd",
)
_E = SPEC.elm_ns


def parse(root: Element) -> F08Message:
    header_el, context_el, transaction_els = message_parts(root)
    requests = []
    for txn in transaction_els:
        g = children_by_name(txn)
        period = children_by_name(g["RequestPeriod"][0])
        mp = children_by_name(g["MeteringPoint"][0])
        products = []
        for p in g.get("Product", []):
            pg = children_by_name(p)
            products.append(
                RequestedProduct(product=required_text(pg, "ProductIdentification"), unit=required_text(pg, "UnitType"))
            )
        requests.append(
            MeteringDataRequest(
                start=parse_datetime(required_text(period, "Start")),
                end=parse_datetime(required_text(period, "End")),
                resolution=optional_text(g, "ResolutionDuration"),
                invoice_relevant=optional_bool(g, "InvoiceRelevant"),
                accounting_points=all_texts(mp.get("Identification", [])),
                metering_point_types=all_texts(mp.get("MeteringPointType", [])),
                accounting_point_types=all_texts(mp.get("AccountingPointType", [])),
                metering_areas=all_texts(mp.get("MeteringArea", [])),
                products=tuple(products),
            )
        )
    return DatahubMessage(parse_header(header_el), parse_context(context_el), tuple(requests))


def build(message: F08Message) -> bytes:
    root, wrapper = start_message(SPEC, message.header, message.context)
    for request in message.transactions:
        el = transaction(wrapper, SPEC)
        period = sub(el, _E, "RequestPeriod")
        sub_dt(period, _E, "Start", request.start)
        sub_dt(period, _E, "End", request.end)
        sub_opt(el, _E, "ResolutionDuration", request.resolution)
        sub_bool(el, _E, "InvoiceRelevant", request.invoice_relevant)
        mp = sub(el, _E, "MeteringPoint")
        for mpt in request.metering_point_types:
            sub_nfi(mp, _E, "MeteringPointType", mpt)
        for apt in request.accounting_point_types:
            sub_nfi(mp, _E, "AccountingPointType", apt)
        for gsrn in request.accounting_points:
            sub_scheme(mp, _E, "Identification", gsrn, SCHEME_GS1)
        for area in request.metering_areas:
            sub_scheme(mp, _E, "MeteringArea", area, SCHEME_EIC)
        for product in request.products:
            p = sub(el, _E, "Product")
            sub(p, _E, "ProductIdentification", product.product)
            sub(p, _E, "UnitType", product.unit)
    return serialize(root)
