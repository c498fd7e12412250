"""Event rules (Datahub's third validation level) on domain objects, and the results that drive the ACK."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest

from gateway.domain.agreement import SalesAgreementEvent
from gateway.domain.codes import AckReasonCode
from gateway.domain.customer import Customer
from gateway.domain.identifiers import PersonalIdentityCode
from gateway.domain.metering import E66Message, MeteringTransaction
from gateway.domain.periods import local_day_bounds
from gateway.validation import (
    EC,
    AccountingPointState,
    EventError,
    check_message,
    check_metering_transaction,
    is_ordering_error,
    known_in,
)
from gateway.validation.masterdata import check_sales_agreement_event
from gateway.validation.parties import check_customer, check_header
from mappings import samples
from mappings.samples import OUR_DSO_GLN, OUR_SUPPLIER_GLN, gsrn

WINTER = date(2026, 1, 15)
SPRING = date(2026, 3, 29)
AUTUMN = date(2026, 10, 25)


def series(day: date = WINTER, resolution: str = "PT15M", **changes: object) -> MeteringTransaction:
    txn = samples.e66_transaction(gsrn(1), day, resolution)
    return dataclasses.replace(txn, **changes) if changes else txn  # type: ignore[arg-type]


def codes(errors: list[EventError]) -> list[str]:
    return [e.code for e in errors]


def with_observation(
    txn: MeteringTransaction, seq: int, qty: Decimal | None, qq: str | None, qm: bool
) -> MeteringTransaction:
    i = seq - 1
    return dataclasses.replace(
        txn,
        quantities=(*txn.quantities[:i], qty, *txn.quantities[i + 1 :]),
        qualities=(*txn.qualities[:i], qq, *txn.qualities[i + 1 :]),
        missing=(*txn.missing[:i], qm, *txn.missing[i + 1 :]),
    )


class TestObservationCount:
    @pytest.mark.parametrize(("day", "n"), [(WINTER, 96), (SPRING, 92), (AUTUMN, 100)])
    def test_a_local_day_at_quarter_hours(self, day: date, n: int) -> None:
        txn = series(day)
        assert len(txn) == n
        assert check_metering_transaction(txn) == []

    @pytest.mark.parametrize(("day", "n"), [(SPRING, 23), (AUTUMN, 25)])
    def test_a_dst_day_at_hours(self, day: date, n: int) -> None:
        txn = series(day, "PT1H")
        assert len(txn) == n
        assert check_metering_transaction(txn) == []

    @pytest.mark.parametrize("day", [SPRING, AUTUMN])
    def test_96_quarters_on_a_dst_day_are_rejected(self, day: date) -> None:
        winter = series(WINTER)
        start, end = local_day_bounds(day)
        errors = check_metering_transaction(dataclasses.replace(winter, start=start, end=end))
        assert codes(errors) == [EC.OBSERVATION_COUNT_MISMATCH]
        assert errors[0].transaction_id == winter.transaction_id

    def test_one_value_for_a_p1d_day_even_on_dst_days(self) -> None:
        assert check_metering_transaction(series(SPRING, "P1D")) == []


class TestPeriod:
    def test_start_not_before_end(self) -> None:
        txn = series()
        assert codes(check_metering_transaction(dataclasses.replace(txn, end=txn.start))) == [EC.PERIOD_NOT_POSITIVE]

    def test_period_off_the_grid(self) -> None:
        txn = series()
        shifted = dataclasses.replace(txn, start=txn.start + timedelta(minutes=5), end=txn.end + timedelta(minutes=5))
        assert codes(check_metering_transaction(shifted)) == [EC.PERIOD_NOT_ON_RESOLUTION_GRID]

    def test_missing_resolution(self) -> None:
        assert codes(check_metering_transaction(dataclasses.replace(series(), resolution=None))) == [
            EC.RESOLUTION_MISSING
        ]


class TestSequence:
    @pytest.mark.parametrize(
        "change",
        [
            lambda s: s[:10] + s[11:] + (97,),  # gap at 11
            lambda s: (*s[:10], 10, *s[11:]),  # 10 repeated
            lambda s: tuple(x - 1 for x in s),  # starts at 0
            lambda s: s[1:] + s[:1],  # out of order
        ],
    )
    def test_seq_must_run_1_to_n(self, change: object) -> None:
        txn = series()
        broken = dataclasses.replace(txn, sequences=change(txn.sequences))  # type: ignore[operator]
        assert codes(check_metering_transaction(broken)) == [EC.SEQUENCE_NOT_CONTIGUOUS]


class TestObservations:
    def test_negative_quantity(self) -> None:
        txn = with_observation(series(), 5, Decimal("-0.001"), None, False)
        assert codes(check_metering_transaction(txn)) == [EC.NEGATIVE_QUANTITY]

    def test_quality_and_missing_are_exclusive(self) -> None:
        txn = with_observation(series(), 5, None, "99", True)
        assert codes(check_metering_transaction(txn)) == [EC.MISSING_CONFLICT]

    def test_quantity_and_missing_are_exclusive(self) -> None:
        txn = with_observation(series(), 5, Decimal("1"), None, True)
        assert codes(check_metering_transaction(txn)) == [EC.MISSING_CONFLICT]

    def test_neither_quantity_nor_missing_flag(self) -> None:
        txn = with_observation(series(), 5, None, None, False)
        assert codes(check_metering_transaction(txn)) == [EC.QUANTITY_ABSENT]

    def test_missing_and_estimated_values_are_fine(self) -> None:
        txn = with_observation(with_observation(series(), 5, None, None, True), 6, Decimal("0.5"), "99", False)
        assert check_metering_transaction(txn) == []

    @pytest.mark.parametrize(
        ("product", "unit", "ok"),
        [
            ("8716867000030", "kWh", True),
            ("8716867000030", "MWh", True),
            ("8716867000030", "kvarh", False),
            ("8716867000047", "kvarh", True),
            ("8716867000047", "kWh", False),
        ],
    )
    def test_unit_must_fit_the_product(self, product: str, unit: str, ok: bool) -> None:
        errors = check_metering_transaction(series(product=product, unit=unit))
        assert codes(errors) == ([] if ok else [EC.UNIT_NOT_VALID_FOR_PRODUCT])

    def test_at_most_10000_values_per_series(self) -> None:
        start, _ = local_day_bounds(WINTER)
        n = 10_001
        txn = series(
            start=start,
            end=start + n * timedelta(minutes=15),
            sequences=tuple(range(1, n + 1)),
            quantities=(Decimal(1),) * n,
            qualities=(None,) * n,
            missing=(False,) * n,
        )
        assert codes(check_metering_transaction(txn)) == [EC.TOO_MANY_VALUES]


class TestAccountingPoint:
    def test_bad_check_digit(self) -> None:
        bad = gsrn(1)[:-1] + str((int(gsrn(1)[-1]) + 1) % 10)
        lookups: list[str] = []

        def lookup(point: str) -> bool:
            lookups.append(point)
            return True

        assert codes(check_metering_transaction(series(accounting_point=bad), lookup)) == [EC.INVALID_GSRN]
        assert lookups == []  # a malformed id is not looked up

    def test_unknown_point_is_an_ordering_error(self) -> None:
        errors = check_metering_transaction(series(), known_in(set()))
        assert codes(errors) == [EC.ACCOUNTING_POINT_NOT_FOUND]
        assert is_ordering_error(errors[0]) and is_ordering_error("EC.MPT.115")

    def test_deleted_point_is_permanent(self) -> None:
        errors = check_metering_transaction(series(), lambda _: AccountingPointState.DELETED)
        assert codes(errors) == [EC.ACCOUNTING_POINT_DELETED]
        assert not is_ordering_error(errors[0])

    def test_known_point(self) -> None:
        assert check_metering_transaction(series(), known_in({gsrn(1)})) == []
        assert check_metering_transaction(series(), lambda _: AccountingPointState.KNOWN) == []


class TestMessageResult:
    def bundle(self, n: int = 3) -> E66Message:
        return samples.e66_document(OUR_DSO_GLN, OUR_SUPPLIER_GLN, [gsrn(i) for i in range(1, n + 1)], WINTER)

    def test_all_accepted_is_ba01(self) -> None:
        result = check_message(self.bundle())
        assert result.ok and result.reason_code == AckReasonCode.ACCEPTED
        assert AckReasonCode.ACCEPTED.value == "BA01"
        assert result.series_details() == ()

    def test_some_rejected_is_ba03_with_series_details_of_the_rejected(self) -> None:
        message = self.bundle()
        bad = dataclasses.replace(message.transactions[1], unit="kvarh")
        message = dataclasses.replace(message, transactions=(message.transactions[0], bad, message.transactions[2]))
        result = check_message(message)
        assert result.reason_code == "BA03"
        assert [t.index for t in result.rejected] == [1]
        (detail,) = result.series_details()
        assert detail.series_id == bad.transaction_id
        assert [r.code for r in detail.reasons] == [EC.UNIT_NOT_VALID_FOR_PRODUCT]

    def test_all_rejected_is_ba02(self) -> None:
        result = check_message(self.bundle(), known_in(set()))
        assert result.reason_code == "BA02"
        assert result.only_ordering_errors

    def test_message_level_error_rejects_everything(self) -> None:
        message = self.bundle()
        message = dataclasses.replace(
            message, header=dataclasses.replace(message.header, physical_sender="1234567890123")
        )
        result = check_message(message)
        assert [e.code for e in result.message_errors] == [EC.INVALID_GLN]
        assert result.reason_code == "BA02"
        assert [r.code for r in result.event_reasons()] == [EC.INVALID_GLN]
        assert not result.only_ordering_errors

    def test_repeated_transaction_ids_are_rejected(self) -> None:
        message = self.bundle(2)
        twin = dataclasses.replace(message.transactions[1], transaction_id=message.transactions[0].transaction_id)
        result = check_message(dataclasses.replace(message, transactions=(message.transactions[0], twin)))
        assert all(EC.DUPLICATE_TRANSACTION_ID in [e.code for e in t.errors] for t in result.transactions)

    def test_single_transaction_types_are_named_by_the_message_id(self) -> None:
        start = local_day_bounds(date(2026, 2, 1))[0]
        message = samples.f04_document(gsrn(1), start)
        event = dataclasses.replace(message.transactions[0], end_of_occurrence=start - timedelta(days=1))
        result = check_message(dataclasses.replace(message, transactions=(event,)))
        (detail,) = result.series_details()
        assert detail.series_id == message.header.message_id

    def test_recipient_must_be_ours_when_asked(self) -> None:
        header = self.bundle().header
        assert check_header(header, our_glns={OUR_SUPPLIER_GLN}) == []
        assert codes(check_header(header, our_glns={OUR_DSO_GLN})) == [EC.INVALID_GLN]


class TestAgreementsAndCustomers:
    def event(self) -> SalesAgreementEvent:
        return samples.f04_document(gsrn(1), local_day_bounds(date(2026, 2, 1))[0]).transactions[0]

    def test_sample_agreement_passes(self) -> None:
        assert check_sales_agreement_event(self.event(), known_in({gsrn(1)})) == []

    def test_unknown_accounting_point(self) -> None:
        assert codes(check_sales_agreement_event(self.event(), known_in(set()))) == [EC.ACCOUNTING_POINT_NOT_FOUND]

    def test_e_invoice_channel_needs_an_address_when_configured(self) -> None:
        event = self.event()
        assert event.agreement is not None
        no_address = dataclasses.replace(event, agreement=dataclasses.replace(event.agreement, electronic_invoice=None))
        assert check_sales_agreement_event(no_address) == []  # rule off without configuration
        channel = event.agreement.invoicing_channel
        assert codes(check_sales_agreement_event(no_address, e_invoice_channels=frozenset({channel}))) == [
            EC.E_INVOICE_CHANNEL_WITHOUT_ADDRESS
        ]

    def test_invalid_personal_identity_code_is_reported_masked(self) -> None:
        customer = Customer(
            identification=PersonalIdentityCode("131052-308U"), identification_type="AA03", customer_type="AB02"
        )
        (error,) = check_customer(customer)
        assert error.code == EC.INVALID_CUSTOMER_ID
        assert "308U" not in error.text

    def test_party_own_ids_are_opaque(self) -> None:
        assert check_customer(Customer(identification="X-1", identification_type="AA04", customer_type="AB01")) == []
