from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenroom.errors import GreenroomError
from greenroom.subnets import SubnetExhausted, allocate, front_prefix, host_addresses

POOL = IPv4Network("10.213.0.0/16")


def nets(*texts: str) -> list[IPv4Network | IPv6Network]:
    return [ip_network(t) for t in texts]


def test_an_empty_pool_gives_its_first_subnet() -> None:
    assert allocate(POOL, 26, []) == IPv4Network("10.213.0.0/26")
    assert allocate(POOL, 16, []) == POOL


def test_taken_subnets_are_skipped() -> None:
    taken = nets("10.213.0.0/26", "10.213.0.64/26")
    assert allocate(POOL, 26, taken) == IPv4Network("10.213.0.128/26")
    assert allocate(POOL, 29, taken) == IPv4Network("10.213.0.128/29")


def test_gaps_are_filled_first() -> None:
    taken = nets("10.213.0.0/29", "10.213.0.16/29")
    assert allocate(POOL, 29, taken) == IPv4Network("10.213.0.8/29")
    assert allocate(POOL, 28, taken) == IPv4Network("10.213.0.32/28")  # the /28 at .0 is half taken


def test_results_are_aligned_after_odd_sized_neighbours() -> None:
    taken = nets("10.213.0.0/30", "10.213.0.8/29")
    assert allocate(POOL, 26, taken) == IPv4Network("10.213.0.64/26")
    assert allocate(POOL, 29, taken) == IPv4Network("10.213.0.16/29")


def test_order_of_taken_does_not_matter() -> None:
    taken = nets("10.213.0.64/26", "10.213.0.0/26", "10.213.0.128/25")
    assert allocate(POOL, 26, taken) == IPv4Network("10.213.1.0/26")
    assert allocate(POOL, 26, reversed(taken)) == IPv4Network("10.213.1.0/26")


def test_networks_outside_the_pool_and_ipv6_are_ignored() -> None:
    taken = nets("172.17.0.0/16", "10.212.0.0/16", "fd00::/64", "10.214.0.0/24")
    assert allocate(POOL, 24, taken) == IPv4Network("10.213.0.0/24")


def test_a_larger_network_covering_the_start_pushes_past_it() -> None:
    taken = nets("10.0.0.0/8")
    with pytest.raises(SubnetExhausted):
        allocate(POOL, 24, taken)
    assert allocate(IPv4Network("10.0.0.0/7"), 24, taken) == IPv4Network("11.0.0.0/24")


def test_a_full_pool_is_exhausted_with_a_hint() -> None:
    pool = IPv4Network("10.213.0.0/24")
    taken = list(pool.subnets(new_prefix=26))
    with pytest.raises(SubnetExhausted) as info:
        allocate(pool, 26, taken)
    assert isinstance(info.value, GreenroomError)
    assert info.value.message == "no free /26 left in the pool 10.213.0.0/24"
    assert "proxy.subnet_pool" in info.value.hint
    assert info.value.exit_code == 1
    assert allocate(pool, 26, taken[1:]) == taken[0]
    assert allocate(pool, 26, taken[:-1]) == taken[-1]


def test_a_prefix_larger_than_the_pool_does_not_fit() -> None:
    with pytest.raises(SubnetExhausted, match=r"a /16 does not fit in the pool 10\.213\.0\.0/24"):
        allocate(IPv4Network("10.213.0.0/24"), 16, [])
    with pytest.raises(ValueError, match="invalid prefix length /33"):
        allocate(POOL, 33, [])


def test_the_last_subnet_of_the_pool_can_be_used() -> None:
    pool = IPv4Network("255.255.255.0/24")
    taken = list(pool.subnets(new_prefix=29))[:-1]
    assert allocate(pool, 29, taken) == IPv4Network("255.255.255.248/29")
    with pytest.raises(SubnetExhausted):
        allocate(pool, 29, [*taken, IPv4Network("255.255.255.248/29")])


def test_thousands_of_taken_subnets() -> None:
    """Correct with a nearly full pool (its speed is not asserted: timed tests flake)."""
    subnets = list(POOL.subnets(new_prefix=29))
    taken: list[IPv4Network | IPv6Network] = list(subnets[:8000])
    random.Random(7).shuffle(taken)
    assert allocate(POOL, 29, taken) == subnets[8000]
    with pytest.raises(SubnetExhausted):
        allocate(POOL, 29, list(subnets))  # all 8192 taken


@pytest.mark.parametrize(
    ("replicas", "prefix"),
    [
        (1, 29),
        (2, 28),
        (5, 28),
        (6, 27),
        (13, 27),
        (14, 26),
        (16, 26),
        (29, 26),
        (30, 25),
    ],
)
def test_front_prefix(replicas: int, prefix: int) -> None:
    assert front_prefix(replicas) == prefix
    usable = 2 ** (32 - prefix) - 2
    assert usable >= 2 * replicas + 4
    assert prefix == 29 or 2 ** (32 - prefix - 1) - 2 < 2 * replicas + 4  # and no smaller one would do


def test_front_prefix_needs_a_replica() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        front_prefix(0)


def test_host_addresses_skip_the_gateway_and_the_taken() -> None:
    subnet = IPv4Network("10.213.0.8/29")
    assert list(host_addresses(subnet, [])) == [IPv4Address(f"10.213.0.{i}") for i in range(10, 15)]
    skip = [IPv4Address("10.213.0.10"), IPv4Address("10.213.0.13"), IPv4Address("192.0.2.1")]
    assert list(host_addresses(subnet, skip)) == [IPv4Address(f"10.213.0.{i}") for i in (11, 12, 14)]


def test_host_addresses_is_lazy() -> None:
    addresses = host_addresses(IPv4Network("10.0.0.0/8"), iter([IPv4Address("10.0.0.2")]))
    assert next(addresses) == IPv4Address("10.0.0.3")
    assert next(addresses) == IPv4Address("10.0.0.4")


def _first_fit(pool: IPv4Network, prefix: int, taken: list[IPv4Network]) -> IPv4Network | None:
    return next((s for s in pool.subnets(new_prefix=prefix) if not any(s.overlaps(t) for t in taken)), None)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[IPv4Network, int, list[IPv4Network]]:
    pool_prefix = draw(st.integers(18, 24))
    host_bits = 32 - pool_prefix
    pool = IPv4Network((draw(st.integers(0, 2**32 - 1)) >> host_bits << host_bits, pool_prefix))
    prefix = draw(st.integers(pool_prefix, min(pool_prefix + 8, 30)))
    base = int(pool.network_address)
    near_pool = st.tuples(st.integers(-512, pool.num_addresses + 512), st.integers(12, 32))
    taken = [
        IPv4Network((max(0, min(2**32 - 1, base + offset)), p), strict=False)
        for offset, p in draw(st.lists(near_pool, max_size=25))
    ]
    return pool, prefix, taken


@given(scenarios())
def test_allocate_never_overlaps_and_stays_in_the_pool(
    scenario: tuple[IPv4Network, int, list[IPv4Network]],
) -> None:
    pool, prefix, taken = scenario
    expected = _first_fit(pool, prefix, taken)
    try:
        got = allocate(pool, prefix, [*taken, IPv6Network("fd00::/8")])
    except SubnetExhausted:
        assert expected is None
        return
    assert got.prefixlen == prefix
    assert got.subnet_of(pool)
    assert not any(got.overlaps(t) for t in taken)
    assert got == expected


def test_a_start_hint_spreads_allocations_and_wraps_around() -> None:
    from greenroom.subnets import spread

    assert allocate(POOL, 26, [], start=5) == IPv4Network("10.213.1.64/26")
    assert allocate(POOL, 26, [], start=1024 + 5) == IPv4Network("10.213.1.64/26")  # modulo the slots
    # the slot and everything after it taken: wrap to the pool's start
    tail = [IPv4Network("10.213.255.0/24")]
    assert allocate(POOL, 26, tail, start=1023) == IPv4Network("10.213.0.0/26")
    # two apps rarely want the same place
    hints = {allocate(POOL, 26, [], start=spread(f"app{i}")) for i in range(50)}
    assert len(hints) >= 45
