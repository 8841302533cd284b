"""Which address per-client limits count against: X-Forwarded-For only from our own balancers."""

import pytest

from clipwatch.service.clients import client_address, parse_networks
from clipwatch.settings import Settings

PROXIES = parse_networks("10.0.0.0/8, 192.168.1.5")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.7", None, "203.0.113.7"),  # no balancer
        ("203.0.113.7", "1.2.3.4", "203.0.113.7"),  # the client's own claim, straight to the API: ignored
        ("10.0.0.2", "198.51.100.9", "198.51.100.9"),  # our balancer names the client
        ("10.0.0.2", "6.6.6.6, 198.51.100.9", "198.51.100.9"),  # left of the last untrusted hop: client-made
        ("10.0.0.2", "198.51.100.9, 192.168.1.5", "198.51.100.9"),  # through two of our proxies
        ("10.0.0.2", "10.0.0.9", "10.0.0.2"),  # only our own proxies: the peer
        ("10.0.0.2", None, "10.0.0.2"),
    ],
)
def test_the_client_is_the_rightmost_address_our_proxies_did_not_write(peer, forwarded, expected):
    assert client_address(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_read():
    assert client_address("10.0.0.2", "198.51.100.9", ()) == "10.0.0.2"


def test_a_bad_trusted_proxy_is_refused_at_start():
    with pytest.raises(ValueError, match="not an address or network"):
        Settings(trusted_proxies="10.0.0.0/8, balancer", _env_file=None)
