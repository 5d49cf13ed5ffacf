"""`[expect] unauthorized_max`: the requests the mock's journal shows answered 401, run-wide."""

from __future__ import annotations

import dataclasses

import pytest

from sim.judge.expectations import check_expectations
from sim.scenario import Expectations, ExpectBounds, ScenarioError, parse
from tests.sim.rundata_samples import sample_run


def test_unauthorized_max_counts_the_journals_401s() -> None:
    good = sample_run()
    bound = Expectations(totals=ExpectBounds(unauthorized_max=0))
    assert check_expectations(good, bound)["unauthorized_max"].ok
    requests = good.requests.copy()
    requests.loc[requests.index[:2], "status"] = 401
    refused = dataclasses.replace(good, requests=requests)
    (result,) = check_expectations(refused, bound).values()
    assert (result.ok, result.detail) == (False, "unauthorized = 2, expected ≤ 0")
    loose = Expectations(totals=ExpectBounds(unauthorized_max=2))
    assert check_expectations(refused, loose)["unauthorized_max"].ok


def test_unauthorized_max_is_run_wide() -> None:
    with pytest.raises(ValueError, match=r"per-token figure: set it in \[expect\]"):
        check_expectations(
            sample_run(), Expectations(steps={"vip-add": ExpectBounds(unauthorized_max=0)})
        )
    source = (
        "[[step]]\nid = 'vip-add'\naudience = { new = 'VIP buyers' }\n"
        "[[traffic]]\nstep = 'vip-add'\nkind = 'poisson'\nrate = '5/s'\n"
        "[expect.steps.vip-add]\nunauthorized_max = 0\n"
    )
    with pytest.raises(ScenarioError, match="a per-token figure"):
        parse(source, "s.toml")
