"""The numbers read from STAT, LIST and UIDL replies (RFC 1939 §5), through the real reader."""

from __future__ import annotations

import pytest

from harness.protocol.pop3_listings import (
    drop_listing, scan_listing, scan_listings, unique_id_listing, unique_id_listings,
)

from .test_pop3_reader import read_one


@pytest.mark.parametrize("wire, expected", [
    (b"+OK 2 320\r\n", (2, 320)),
    (b"+OK 0 0\r\n", (0, 0)),
    (b"+OK 3 1200 messages follow\r\n", (3, 1200)),     # more text may follow the two numbers
    (b"+OK maildrop has 2 messages\r\n", None),
    (b"+OK 2\r\n", None),
    (b"-ERR 2 320\r\n", None),                           # a negative reply carries no listing
])
def test_drop_and_single_scan_listing(wire, expected):
    assert drop_listing(read_one(wire)) == expected
    assert scan_listing(read_one(wire)) == expected


def test_multi_line_scan_listing_keeps_the_well_formed_lines():
    response = read_one(b"+OK 3 messages\r\n1 120\r\n2 x\r\n3 300 extra\r\n.\r\n", multiline=True)
    assert scan_listings(response) == [(1, 120), (3, 300)]


def test_unique_id_listings():
    assert unique_id_listing(read_one(b"+OK 2 QhdPYR:00WBw1Ph7x7\r\n")) == (2, "QhdPYR:00WBw1Ph7x7")
    assert unique_id_listing(read_one(b"-ERR no such message\r\n")) is None
    response = read_one(b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2\r\nx y\r\n3 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
                        multiline=True)
    assert unique_id_listings(response) == [(1, "whqtswO00WBw418f9t5JxYwZ"), (3, "QhdPYR:00WBw1Ph7x7")]
