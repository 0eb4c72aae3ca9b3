"""The fraud signals' building blocks, without a server: the burst window and the IP ranges."""

from __future__ import annotations

from pathlib import Path

from postback.clicks.fraud import configure
from postback.clicks.visitor import ip_facts, visitor_from
from postback.config import Settings
from postback.fraud import datacenter, flags
from postback.fraud.burst import BurstCounter


def test_the_burst_window_slides_over_the_previous_windows_count() -> None:
    burst = BurstCounter(limit=3, window=60.0)
    assert [burst.hit("a", now=1000.0 + i) for i in range(4)] == [False, False, False, True]
    assert burst.hit("b", now=1005.0) is False  # per IP
    # 30 s into the next window half the previous window's 4 clicks still count: 2 + 1.
    assert burst.hit("a", now=1090.0) is False
    assert burst.hit("a", now=1090.5) is True
    # Two windows of quiet: nothing is remembered.
    assert burst.hit("a", now=1300.0) is False


def test_a_burst_limit_of_0_turns_the_signal_off() -> None:
    burst = BurstCounter(limit=0, window=60.0)
    assert not any(burst.hit("a", now=1.0 + i / 1000) for i in range(1000))


def test_operator_ranges_add_to_the_shipped_ones_and_the_setting_turns_them_off(
    tmp_path: Path,
) -> None:
    extra = tmp_path / "ranges.txt"
    extra.write_text("# our own\n198.51.100.0/24\n2001:db8::/32  # docs\n\n")
    try:
        configure(Settings(fraud_datacenter_ranges_file=str(extra), _env_file=None))  # type: ignore[call-arg]
        assert ip_facts("198.51.100.77")[1] and ip_facts("2001:db8::5")[1]
        assert ip_facts("3.5.140.2")[1]  # AWS, shipped
        assert not ip_facts("198.51.101.1")[1]
        assert visitor_from("198.51.100.1", None, None, None).datacenter
        configure(Settings(fraud_datacenter_ips=False, _env_file=None))  # type: ignore[call-arg]
        assert not ip_facts("3.5.140.2")[1]
        assert not datacenter.is_datacenter("not an ip")
    finally:
        configure(Settings(_env_file=None))  # type: ignore[call-arg]


def test_flag_names_masks_and_labels_agree() -> None:
    assert flags.mask_of(["bot", "IP_BURST "]) == flags.Flag.BOT | flags.Flag.IP_BURST
    assert flags.label(0) == "none"
    assert flags.label(flags.Flag.BOT | flags.Flag.GEO_MISMATCH) == "bot,geo_mismatch"
    assert flags.matches(0, ["none"]) and not flags.matches(0, ["any"])
    assert flags.matches(int(flags.Flag.PAYOUT_OUTLIER), ["any"])
    assert flags.unknown(["bot", "robot", "none"]) == ["robot"]
