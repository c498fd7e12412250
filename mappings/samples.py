"""Deterministic sample Datahub messages for tests, the demo and the benchmark.

The parties and accounting points are invented but carry valid GS1 check digits (Finnish GS1 prefix
643); `tests/fixtures/datahub/README.md` lists the same ones. Values are a pure function of
(seed, accounting point, position), so two runs produce identical bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from gateway.domain.agreement import (
    AgreementDetails,
    AgreementEndNotice,
    ElectronicInvoiceAddress,
    F04Message,
    SalesAgreementEvent,
)
from gateway.domain.codes import (
    AccountingPointType,
    DocumentType,
    MeteringMethod,
    Process,
    Product,
    Role,
)
from gateway.domain.customer import Customer, CustomerEvent, PostalAddress
from gateway.domain.identifiers import PersonalIdentityCode, make_gln, make_gsrn
from gateway.domain.masterdata import AccountingPointAddress, AccountingPointMasterData, E58Message
from gateway.domain.message import DatahubMessage, MessageHeader, ProcessContext
from gateway.domain.metering import E66Message, MeteringTransaction
from gateway.domain.periods import expected_positions, local_day_bounds
from mappings import e58, e66, f01, f04, f06

DATAHUB_GLN: Final = make_gln("643000000001")  # 6430000000016, Datahub (invented)
OUR_SUPPLIER_GLN: Final = make_gln("643000000002")  # 6430000000023, the group's retail company
OUR_DSO_GLN: Final = make_gln("643000000003")  # 6430000000030, the group's distribution company
OTHER_SUPPLIER_GLN: Final = make_gln("643000000004")  # 6430000000047, a competing retailer
SERVICE_PROVIDER_GLN: Final = make_gln("643000000005")  # 6430000000054, metering service provider
GRID_AREA: Final = "44Y-000000000013"  # EIC with a valid check character (invented)
SAMPLE_CREATION: Final = datetime(2026, 1, 1, tzinfo=UTC)


def gsrn(n: int) -> str:
    """The n-th sample accounting point: 643 + 14-digit serial + GS1 check digit."""
    return make_gsrn(f"643{n:014d}")


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=16).digest()


def sample_uuid(*parts: object) -> str:
    """A deterministic UUID-shaped id (36 chars) derived from `parts`."""
    h = _digest(*parts).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def header(
    document_type: str,
    sender: str,
    recipient: str,
    message_id: str,
    creation: datetime = SAMPLE_CREATION,
    *,
    physical_sender: str | None = None,
    physical_recipient: str | None = None,
    routing: str | None = None,
) -> MessageHeader:
    return MessageHeader(
        message_id=message_id,
        document_type=document_type,
        creation=creation,
        physical_sender=physical_sender or sender,
        juridical_sender=sender,
        juridical_recipient=recipient,
        physical_recipient=physical_recipient or recipient,
        sender_routing_information=routing,
    )


def consumption_micro_kwh(seed: int, accounting_point: str, position: int, resolution: str) -> int:
    """A plausible per-interval consumption in µkWh (0–2.5 kWh per quarter hour, ×4 per hour)."""
    raw = int.from_bytes(_digest(seed, accounting_point, position)[:4], "big")
    per_quarter = (raw % 2_500_000) // 1000 * 1000  # whole Wh, like a real meter
    return per_quarter * 4 if resolution == "PT1H" else per_quarter * 96 if resolution == "P1D" else per_quarter


def e66_transaction(
    accounting_point: str,
    day: date,
    resolution: str = "PT15M",
    *,
    seed: int = 0,
    transaction_id: str | None = None,
    quality: str | None = None,
    estimated_positions: Sequence[int] = (),
    missing_positions: Sequence[int] = (),
    grid_area: str | None = GRID_AREA,
) -> MeteringTransaction:
    """One day's series for one accounting point; positions are 1-based SEQ numbers."""
    start, end = local_day_bounds(day)
    count = expected_positions(start, end, resolution)
    if count is None:
        raise ValueError(f"a local day cannot be expressed at {resolution}")
    estimated, missing_set = set(estimated_positions), set(missing_positions)
    quantities: list[Decimal | None] = []
    qualities: list[str | None] = []
    missing: list[bool] = []
    for seq in range(1, count + 1):
        if seq in missing_set:
            quantities.append(None)
            qualities.append(None)
            missing.append(True)
            continue
        micro = consumption_micro_kwh(seed, accounting_point, seq, resolution)
        quantities.append(Decimal(micro).scaleb(-6).normalize() if micro else Decimal(0))
        qualities.append("99" if seq in estimated else quality)
        missing.append(False)
    return MeteringTransaction(
        transaction_id=transaction_id or sample_uuid("e66-txn", seed, accounting_point, day, resolution),
        accounting_point=accounting_point,
        metering_point_type="F01",  # consumption series (assumed meaning of F01; unverified)
        product=Product.ACTIVE_ENERGY,
        unit="kWh",
        resolution=resolution,
        start=start,
        end=end,
        sequences=tuple(range(1, count + 1)),
        quantities=tuple(quantities),
        qualities=tuple(qualities),
        missing=tuple(missing),
        grid_area=grid_area,
    )


def e66_document(
    sender: str,
    recipient: str,
    accounting_points: Sequence[str],
    day: date,
    resolution: str = "PT15M",
    *,
    seed: int = 0,
    message_id: str | None = None,
    creation: datetime | None = None,
    quality: str | None = None,
    role: str = Role.SUPPLIER,
) -> E66Message:
    if not accounting_points:
        raise ValueError("an E66 needs at least one transaction")
    mid = message_id or sample_uuid("e66", seed, sender, recipient, day, resolution, *accounting_points)
    return DatahubMessage(
        header=header(DocumentType.E66, sender, recipient, mid, creation or _creation_after(day)),
        context=ProcessContext(Process.METERING_DATA, role),
        transactions=tuple(
            e66_transaction(ap, day, resolution, seed=seed, quality=quality) for ap in accounting_points
        ),
    )


def e66_message(
    sender: str,
    recipient: str,
    accounting_points: Sequence[str],
    day: date,
    resolution: str = "PT15M",
    *,
    seed: int = 0,
    message_id: str | None = None,
    creation: datetime | None = None,
    quality: str | None = None,
) -> bytes:
    """One E66 with one transaction per accounting point for the Finnish day `day`."""
    return e66.build(
        e66_document(
            sender,
            recipient,
            accounting_points,
            day,
            resolution,
            seed=seed,
            message_id=message_id,
            creation=creation,
            quality=quality,
        )
    )


def e66_messages(
    sender: str,
    recipient: str,
    accounting_points: Sequence[str],
    day: date,
    resolution: str = "PT15M",
    n_series_per_message: int = 100,
    *,
    seed: int = 0,
) -> Iterator[bytes]:
    """The day's data for many accounting points, `n_series_per_message` series per E66."""
    if n_series_per_message < 1:
        raise ValueError("n_series_per_message must be positive")
    for i in range(0, len(accounting_points), n_series_per_message):
        yield e66_message(
            sender, recipient, accounting_points[i : i + n_series_per_message], day, resolution, seed=seed
        )


def _creation_after(day: date) -> datetime:
    return local_day_bounds(day)[1] + timedelta(hours=1)


def e58_document(
    accounting_point: str,
    start_of_occurrence: datetime,
    *,
    sender: str = DATAHUB_GLN,
    recipient: str = OUR_SUPPLIER_GLN,
    grid_area: str = GRID_AREA,
    resolution: str = "PT15M",
    fuse_size: str = "3x25",
    tax_category: str = "1",
    message_id: str | None = None,
) -> E58Message:
    mid = message_id or sample_uuid("e58", accounting_point, start_of_occurrence)
    n = int(accounting_point[3:17])
    return DatahubMessage(
        header=header(DocumentType.E58, sender, recipient, mid, start_of_occurrence - timedelta(days=1)),
        context=ProcessContext(Process.ACCOUNTING_POINT_INFO, Role.SUPPLIER),
        transactions=(
            AccountingPointMasterData(
                accounting_point=accounting_point,
                start_of_occurrence=start_of_occurrence,
                grid_area=grid_area,
                physical_status="AE01",
                accounting_point_type=AccountingPointType.CONSUMPTION,
                addresses=(
                    AccountingPointAddress(
                        address_type="AF01",
                        street_name="Testikatu",
                        building_number=str(n % 200 + 1),
                        postcode="00100",
                        city="Helsinki",
                        country_code="FI",
                        language="fi",
                    ),
                ),
                remote_readable=True,
                metering_method=MeteringMethod.INTERVAL,
                resolution=resolution,
                fuse_size=fuse_size,
                tax_category=tax_category,
            ),
        ),
    )


def e58_message(accounting_point: str, start_of_occurrence: datetime, **options: Any) -> bytes:
    """`e58_document` as XML; `options` are its keyword arguments."""
    return e58.build(e58_document(accounting_point, start_of_occurrence, **options))


_SAMPLE_HETU: Final = "131052-308T"  # the Digital and Population Data Services Agency's example code


def f04_document(
    accounting_point: str,
    start_of_occurrence: datetime,
    *,
    sender: str = DATAHUB_GLN,
    recipient: str = OUR_SUPPLIER_GLN,
    supplier: str = OUR_SUPPLIER_GLN,
    grid_area: str = GRID_AREA,
    product_code: str = "SPOT-2026",
    agreement_id: str | None = None,
    process: str = Process.NEW_SALES_AGREEMENT,
    message_id: str | None = None,
    e_invoice: bool = True,
    customer: Customer | None = None,
) -> F04Message:
    """A new open-ended sales agreement with a consumer customer (the sample consumer by default),
    e-invoiced by default."""
    mid = message_id or sample_uuid("f04", accounting_point, start_of_occurrence, process)
    customer = customer or sample_consumer()
    agreement = AgreementDetails(
        contact_type="AC01",
        agreement_id=agreement_id or sample_uuid("agreement", accounting_point, start_of_occurrence),
        contract_type="11",
        invoicing_method="AH01",
        priority=False,
        invoicing_channel="AI02" if e_invoice else "AI01",
        time_limited=False,
        product_codes=(product_code,),
        electronic_invoice=ElectronicInvoiceAddress(address="FI4819503000000010", router="NDEAFIHH")
        if e_invoice
        else None,
        supplier=supplier,
        customers=(customer,),
    )
    return DatahubMessage(
        header=header(DocumentType.F04, sender, recipient, mid, start_of_occurrence - timedelta(days=14)),
        context=ProcessContext(process, Role.SUPPLIER),
        transactions=(
            SalesAgreementEvent(
                accounting_point=accounting_point,
                grid_area=grid_area,
                start_of_occurrence=start_of_occurrence,
                agreement=agreement,
            ),
        ),
    )


def f04_message(accounting_point: str, start_of_occurrence: datetime, **options: Any) -> bytes:
    """`f04_document` as XML; `options` are its keyword arguments."""
    return f04.build(f04_document(accounting_point, start_of_occurrence, **options))


def e58_messages(accounting_points: Sequence[str], start_of_occurrence: datetime, **options: Any) -> Iterator[bytes]:
    """One E58 per accounting point (E58 carries a single transaction)."""
    for accounting_point in accounting_points:
        yield e58_message(accounting_point, start_of_occurrence, **options)


def sample_consumer() -> Customer:
    """The consumer of the sample messages (population register's published example identity code)."""
    return Customer(
        identification=PersonalIdentityCode(_SAMPLE_HETU),
        identification_type="AA03",
        customer_type="AB02",
        customer_subtype="BF01",
        information_restriction=False,
        language="fi",
        given_name="Maija",
        family_name="Meikäläinen",
        address=PostalAddress(
            street_name="Testikatu", building_number="1", postcode="00100", city="Helsinki", country_code="FI"
        ),
    )


_HETU_CHECK: Final = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_GIVEN: Final = ("Aino", "Eino", "Helmi", "Väinö", "Lempi", "Toivo", "Sanni", "Onni", "Iida", "Eetu")
_FAMILY: Final = ("Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen")
_STREETS: Final = ("Kotikatu", "Puistotie", "Rantakatu", "Koivukuja", "Mäntytie", "Kirkkokatu")


def sample_customer(n: int) -> Customer:
    """The n-th invented customer: mostly consumers (with a valid, invented personal identity code), every
    fifth a company identified by its business ID. Deterministic."""
    street = PostalAddress(street_name=_STREETS[n % len(_STREETS)], building_number=str(n + 1),
                           postcode=f"{(n % 9 + 1) * 100:05d}", city="Helsinki", country_code="FI")
    if n % 5 == 4:
        body = f"{2000000 + n * 7919:07d}"
        weights = (7, 9, 10, 5, 8, 4, 2)
        check = (11 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11) % 11
        if check == 10:  # no valid business ID with this body: take the next customer's
            return sample_customer(n + 5)
        return Customer(identification=f"{body}-{check}", identification_type="AA01", customer_type="AB01",
                        customer_subtype="BF02", information_restriction=False, language="fi",
                        name=f"Esimerkkiyhtiö {n} Oy", address=street)
    birth = f"{(n % 28) + 1:02d}{(n % 12) + 1:02d}{(60 + n) % 100:02d}"
    serial = f"{(n * 37) % 898 + 2:03d}"
    code = f"{birth}-{serial}{_HETU_CHECK[int(birth + serial) % 31]}"
    return Customer(identification=PersonalIdentityCode(code), identification_type="AA03", customer_type="AB02",
                    customer_subtype="BF01", information_restriction=False, language="fi",
                    given_name=_GIVEN[n % len(_GIVEN)], family_name=_FAMILY[n % len(_FAMILY)], address=street)


def f01_message(
    start_of_occurrence: datetime,
    customer: Customer | None = None,
    *,
    sender: str = DATAHUB_GLN,
    recipient: str = OUR_SUPPLIER_GLN,
    message_id: str | None = None,
) -> bytes:
    """Customer information (F01, DH-111-1) about `customer` (the sample consumer by default)."""
    who = customer or sample_consumer()
    mid = message_id or sample_uuid("f01", who.identification, start_of_occurrence)
    return f01.build(
        DatahubMessage(
            header=header(DocumentType.F01, sender, recipient, mid, start_of_occurrence - timedelta(days=1)),
            context=ProcessContext(Process.CUSTOMER_INFO, Role.SUPPLIER),
            transactions=(CustomerEvent(start_of_occurrence=start_of_occurrence, customer=who),),
        )
    )


def f06_message(
    accounting_point: str,
    end_of_occurrence: datetime,
    *,
    reason: str = "AN01",
    sender: str = DATAHUB_GLN,
    recipient: str = OUR_SUPPLIER_GLN,
    grid_area: str = GRID_AREA,
    agreement_id: str | None = None,
    message_id: str | None = None,
) -> bytes:
    """An agreement end notice (F06, DH-311-3) for `accounting_point` ending at `end_of_occurrence`."""
    mid = message_id or sample_uuid("f06", accounting_point, end_of_occurrence, reason)
    notice = AgreementEndNotice(
        end_of_occurrence=end_of_occurrence,
        reason=reason,
        accounting_point=accounting_point,
        grid_area=grid_area,
        agreement_id=agreement_id,
    )
    return f06.build(
        DatahubMessage(
            header=header(DocumentType.F06, sender, recipient, mid, end_of_occurrence - timedelta(days=14)),
            context=ProcessContext(Process.AGREEMENT_END_NOTICE, Role.SUPPLIER),
            transactions=(notice,),
        )
    )
