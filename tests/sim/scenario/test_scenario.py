"""sim.scenario: loading, defaults, validation errors (file, key, reason) and override."""

from pathlib import Path

import pytest

from mock_pinterest.config import RATE_LIMIT_ALGORITHMS, MockConfig
from sim.scenario import (
    FaultKind,
    Pacer,
    RateLimiter,
    ScenarioError,
    StepAction,
    TrafficKind,
    default,
    load,
    override,
    parse,
)
from sim.world.network import Part, Paths

STEP = '[[step]]\nid = "vip"\n'


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(text, "bad.toml")
    return caught.value


def test_parse_minimal_file_gets_defaults() -> None:
    scenario = parse(STEP, "tiny.toml")
    step = scenario.steps[0]
    assert scenario.name == "tiny"
    assert scenario.duration_s == 3600.0
    assert scenario.sync.retry_window_s == 13 * 3600
    assert scenario.sync.max_records_per_request == 1900
    assert scenario.pinterest.ads_write_per_second == 7
    assert [c.id for c in scenario.connections] == ["workspace"]
    assert (step.connection, step.action, step.match_fields) == (
        "workspace",
        StepAction.ADD,
        ("email", "maid"),
    )
    assert step.audience.new == "vip"


def test_parse_rows_left_short_take_the_documented_defaults() -> None:
    scenario = parse(
        STEP + '[[traffic]]\nstep = "vip"\nkind = "poisson"\nrate = "1/s"\n'
        '[[fault]]\nat = "1m"\nkind = "latency"\nextra = "1s"\n',
        "d.toml",
    )
    (row,), (fault,), (step,) = scenario.traffic, scenario.faults, scenario.steps
    assert (scenario.seed, scenario.description, scenario.heavy) == (0, "", False)
    assert (row.start_s, row.end_s, row.period_s, row.malformed, row.replay) == (
        0.0,
        3600.0,
        86400.0,
        0.01,
        None,
    )
    assert (row.missing.email, row.missing.maid) == (0.05, 0.5)
    assert (fault.share, fault.status, fault.part, fault.until_s) == (1.0, (), Part.SERVICE, None)
    assert (step.ad_account, step.last_step) == ("549755885175", False)


def test_parse_default_engine_paces_to_the_default_pinterest_limits() -> None:
    scenario = parse("", "d.toml")
    assert (scenario.sync.requests_per_second, scenario.sync.max_records_per_request) == (
        scenario.pinterest.ads_write_per_second,
        scenario.pinterest.max_records_per_request,
    )


def test_parse_reads_units_and_kind_specific_keys() -> None:
    scenario = parse(
        STEP
        + """
[scenario]
duration = "16h"
[[traffic]]
step = "vip"
kind = "ramp"
rate = "60/min"
rate_end = "2/s"
end = "1h"
missing = { email = 0.2 }
[[fault]]
at = "2h"
until = "3h"
kind = "server_errors"
share = 0.2
[[fault]]
at = "4h"
kind = "revoke_token"
""",
        "x.toml",
    )
    ramp = scenario.traffic[0]
    assert (ramp.kind, ramp.rate_per_s, ramp.rate_end_per_s, ramp.end_s) == (
        TrafficKind.RAMP,
        1.0,
        2.0,
        3600.0,
    )
    assert ramp.missing.email == 0.2
    errors, revoke = scenario.faults
    assert (errors.kind, errors.at_s, errors.until_s, errors.status) == (
        FaultKind.SERVER_ERRORS,
        7200.0,
        10800.0,
        (500, 503),
    )
    assert revoke.connection == "workspace"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[sync]\nretry_windw = "13h"', "sync.retry_windw", "did you mean 'retry_window'"),
        ('[scenario]\nseed = "x"', "scenario.seed", "expected an integer"),
        ("[scenario]\nseed = -1", "scenario.seed", "negative"),
        ('[sync]\nflush_interval = "5x"', "sync.flush_interval", "bad unit"),
        ("[sync]\nflush_interval = 5", "sync.flush_interval", "duration string"),
        ("[pinterest]\nmatch_rate = 1.5", "pinterest.match_rate", "between 0 and 1"),
        (
            STEP + '[[traffic]]\nstep = "vip"\nkind = "poisson"\nrate = "1/s"\n'
            '[[traffic]]\nstep = "vip"\nkind = "poisson"\nrate = "1/s"\n'
            '[[traffic]]\nstep = "vip"\nkind = "poisson"\nrate = "fast"\n',
            "traffic[2].rate",
            "bad rate",
        ),
        (
            STEP + '[[traffic]]\nstep = "nope"\nkind = "poisson"\nrate = "1/s"',
            "traffic[0].step",
            "no [[step]] with id 'nope'",
        ),
        (
            STEP + '[[traffic]]\nstep = "vip"\nkind = "blast"\nrate = "1/s"\ncount = 5',
            "traffic[0].rate",
            "does not apply to kind 'blast'",
        ),
        (
            STEP + '[[traffic]]\nstep = "vip"\nkind = "ramp"\nrate = "1/s"',
            "traffic[0].rate_end",
            "missing",
        ),
        (STEP + '[[traffic]]\nstep = "vip"\nkind = "wave"', "traffic[0].kind", "unknown"),
        ('[[fault]]\nat = "1h"\nkind = "meteor"', "fault[0].kind", "unknown"),
        (
            '[[fault]]\nat = "20m"\nuntil = "10m"\nkind = "server_errors"',
            "fault[0].until",
            "after at",
        ),
        (
            '[[fault]]\nat = "20m"\nuntil = "30m"\nkind = "revoke_token"',
            "fault[0].until",
            "does not apply",
        ),
        ('[[fault]]\nat = "20m"\nkind = "delete_audience"', "fault[0].step", "missing"),
        (
            '[[fault]]\nat = "20m"\nkind = "server_errors"\nstatus = []',
            "fault[0].status",
            "empty list",
        ),
        ('[[fault]]\nat = "20m"\nkind = "latency"', "fault[0].extra", "either median"),
        ('[[fault]]\nat = "2d"\nkind = "revoke_token"', "fault[0].at", "end of the run"),
        ('[[fault]]\nat = "20m"\nkind = "token_expiry"', "fault[0].lifetime", "missing"),
        (
            '[[fault]]\nat = "20m"\nkind = "token_expiry"\nlifetime = "10s"',
            "fault[0].lifetime",
            "at least 1m",
        ),
        (
            '[[fault]]\nat = "20m"\nkind = "token_expiry"\nlifetime = "1h"\nrefresh = "maybe"',
            "fault[0].refresh",
            "works",
        ),
        (
            '[[fault]]\nat = "20m"\nkind = "timeout"\napplied = "yes"',
            "fault[0].applied",
            "true or false",
        ),
        (
            '[[fault]]\nat = "20m"\nkind = "outage"\nshare = 0.5',
            "fault[0].share",
            "does not apply to kind 'outage'",
        ),
        (
            '[[fault]]\nat = "20m"\nkind = "worker_crash"\nuntil = "30m"',
            "fault[0].until",
            "does not apply",
        ),
        (
            '[[connection]]\nid = "a"\n[[connection]]\nid = "b"\n'
            '[[step]]\nid = "x"\nconnection = "a"\n[[step]]\nid = "y"\nconnection = "b"\n',
            "step[1].ad_account",
            "belongs to connection 'a'",
        ),
        (STEP + STEP, "step[1].id", "duplicate"),
        (
            '[[step]]\nid = "a"\naudience = { new = "x", existing = "y" }',
            "step[0].audience",
            "exactly one",
        ),
        ('[[step]]\nid = "a"\nmatch_fields = ["phone"]', "step[0].match_fields", "phone"),
        ('[[step]]\nid = "a"\nconnection = "other"', "step[0].connection", "no [[connection]]"),
        ("[expect.steps.ghost]\nerrored = 0", "expect.steps.ghost", "no [[step]]"),
        ('[expect]\nlag_p99 = "1s"', "expect.lag_p99", "did you mean 'lag_p99_max'"),
        ("[bogus]\nx = 1", "bogus", "unknown key"),
        (
            '[pinterest]\nlatency = { median = "120ms", p99 = "600ms" }',
            "pinterest.latency",
            'write [network] service = { median = "120ms"',
        ),
        ('[network]\nservice = { median = "1s" }', "network.service", "p99: missing"),
        (
            '[network]\nservice = { median = "1s", p99 = "2s", p50 = "1s" }',
            "network.service",
            "p50",
        ),
        ('[network]\npropagation = { median = "2s", p99 = "1s" }', "network.propagation", "below"),
        ('[network]\npropagation = { median = "0s", p99 = "1s" }', "network.propagation", "of 0"),
        ('[network]\npaths = "shared"', "network.paths", "per_connection, independent"),
        ("[network]\nconnections = 0", "network.connections", "at least 1"),
        ('[sync]\npacer = "magic"', "sync.pacer", "adaptive, fixed"),
        (
            '[[fault]]\nat = "1m"\nkind = "latency"\npart = "propagation"\nextra = "1s"',
            "fault[0].extra",
            "part 'service'",
        ),
        (
            '[[fault]]\nat = "1m"\nkind = "latency"\npart = "disk"\nmedian = "1s"\np99 = "2s"',
            "fault[0].part",
            "propagation",
        ),
    ],
)
def test_parse_rejects_bad_file_with_key_and_reason(text: str, key: str, reason: str) -> None:
    error = _error(text)
    assert error.file == "bad.toml"
    assert error.key == key
    assert reason in error.reason
    assert str(error).startswith(f"bad.toml: {key}: ")


@pytest.mark.parametrize("value", RATE_LIMIT_ALGORITHMS)
def test_parse_pinterest_rate_limiter_accepts_every_mock_algorithm(value: str) -> None:
    assert parse(STEP, "tiny.toml").pinterest.rate_limiter == RateLimiter.FIXED_WINDOW
    settings = parse(f'[pinterest]\nrate_limiter = "{value}"', "s.toml").pinterest
    assert settings.rate_limiter == RateLimiter(value)
    assert MockConfig(rate_limit_algorithm=str(settings.rate_limiter)).rate_limit_algorithm == value
    assert {member.value for member in RateLimiter} == set(RATE_LIMIT_ALGORITHMS)


def test_parse_pinterest_rate_limiter_rejects_unknown_value_in_one_line() -> None:
    error = _error('[pinterest]\nrate_limiter = "leaky_bucket"')
    assert (error.file, error.key) == ("bad.toml", "pinterest.rate_limiter")
    assert str(error) == (
        "bad.toml: pinterest.rate_limiter: unknown ratelimiter 'leaky_bucket'; "
        "expected one of: fixed_window, sliding_window, token_bucket"
    )


def test_parse_network_defaults_are_the_design_figures() -> None:
    network = parse("", "n.toml").network
    assert (network.propagation.median_s, network.propagation.p99_s) == (0.03, 0.06)
    assert (network.service.median_s, network.service.p99_s) == (0.12, 0.6)
    assert (network.connections, network.paths) == (16, Paths.PER_CONNECTION)


def test_parse_network_takes_a_table_or_one_duration_per_part() -> None:
    network = parse(
        '[network]\npropagation = { median = "120ms", p99 = "400ms" }\nservice = "0s"\n'
        'paths = "independent"\nconnections = 4',
        "n.toml",
    ).network
    assert (network.propagation.median_s, network.propagation.p99_s) == (0.12, 0.4)
    assert (network.service.median_s, network.service.p99_s) == (0.0, 0.0)
    assert (network.connections, network.paths) == (4, Paths.INDEPENDENT)


def test_parse_latency_fault_slows_the_server_unless_told_the_path() -> None:
    faults = parse(
        '[[fault]]\nat = "1m"\nkind = "latency"\nmedian = "1s"\np99 = "2s"\n'
        '[[fault]]\nat = "1m"\nkind = "latency"\npart = "propagation"\nmedian = "1s"\n'
        'p99 = "2s"',
        "f.toml",
    ).faults
    assert [fault.part for fault in faults] == [Part.SERVICE, Part.PROPAGATION]


def test_parse_sync_pacer_and_margin() -> None:
    sync = parse('[sync]\npacer = "fixed"\npacing_margin = "1ms"', "s.toml").sync
    assert (sync.pacer, sync.pacing_margin_s) == (Pacer.FIXED, 0.001)
    assert parse("", "s.toml").sync.pacer is Pacer.ADAPTIVE


def test_parse_reports_toml_syntax_error_with_line() -> None:
    error = _error("[scenario]\nname = \n")
    assert "line 2" in error.reason


def test_load_names_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path / "absent.toml")
    assert caught.value.file.endswith("absent.toml")


def test_load_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text('[scenario]\nname = "one"\nseed = 3\n' + STEP)
    scenario = load(path)
    assert (scenario.name, scenario.seed, scenario.source) == ("one", 3, str(path))


def test_default_is_valid_small_day() -> None:
    scenario = default()
    assert scenario.duration_s == 86400.0
    assert scenario.steps and scenario.traffic
    assert scenario.expect.totals.errored == 0


def test_override_replaces_dotted_key_and_revalidates() -> None:
    scenario = default()
    faster = override(scenario, "traffic.0.rate", "50/s")
    assert faster.traffic[0].rate_per_s == 50.0
    assert scenario.traffic[0].rate_per_s != 50.0  # the original is untouched
    assert override(scenario, "sync.retry_window", "1h").sync.retry_window_s == 3600.0
    with pytest.raises(ScenarioError, match=r"traffic\[0\]\.rate"):
        override(scenario, "traffic.0.rate", "fast")
    with pytest.raises(ScenarioError, match="no element 9"):
        override(scenario, "traffic.9.rate", "1/s")


def test_expectations_collect_totals_and_steps() -> None:
    scenario = parse(
        STEP + '[expect]\nerrored = 0\nlag_p99_max = "1m"\n[expect.steps.vip]\nsynced_min = 10\n'
    )
    assert dict(scenario.expect.totals.items()) == {"errored": 0, "lag_p99_max_s": 60.0}
    assert dict(scenario.expect.steps["vip"].items()) == {"synced_min": 10}


def test_expectations_take_pacing_bounds_as_shares() -> None:
    scenario = parse(STEP + "[expect]\nmax_429_share = 0.01\nmin_utilisation = 0.9\n")
    assert dict(scenario.expect.totals.items()) == {
        "max_429_share": 0.01,
        "min_utilisation": 0.9,
    }
    assert "expect.min_utilisation: expected a share between 0 and 1" in str(
        _error(STEP + "[expect]\nmin_utilisation = 90\n")
    )


@pytest.mark.parametrize("key", ["max_429_share", "min_utilisation"])
def test_expectations_refuse_pacing_bounds_per_step(key: str) -> None:
    error = _error(STEP + f"[expect.steps.vip]\n{key} = 0.5\n")
    assert (error.key, error.reason) == (
        f"expect.steps.vip.{key}",
        "a per-token figure: set it in [expect]",
    )


def test_expectations_take_preflight_bounds_run_wide_only() -> None:
    scenario = parse(
        STEP + "[expect]\npreflight_errored_min = 1\npreflight_errored_max = 10\n"
        'preflight_lag_p99_max = "2m"\npreflight_error_max = 0.1\n'
    )
    assert dict(scenario.expect.totals.items()) == {
        "preflight_errored_min": 1,
        "preflight_errored_max": 10,
        "preflight_lag_p99_max_s": 120.0,
        "preflight_error_max": 0.1,
    }
    assert "expect.preflight_error_max: must be at least 0 and at most 10, got 11" in str(
        _error(STEP + "[expect]\npreflight_error_max = 11\n")
    )
    assert "expect.preflight_error_max: expected a number, got" in str(
        _error(STEP + '[expect]\npreflight_error_max = "small"\n')
    )
    error = _error(STEP + "[expect.steps.vip]\npreflight_errored_max = 0\n")
    assert (error.key, error.reason) == (
        "expect.steps.vip.preflight_errored_max",
        "a per-token figure: set it in [expect]",
    )
