"""Under CI=true a skipped store or Node test fails; elsewhere it skips."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPPING_STORE_TEST = """
import pytest

@pytest.mark.store
def test_backend():
    pytest.skip("redis unreachable at 127.0.0.1:6379")

@pytest.mark.node
def test_with_node():
    pytest.skip("tests/interop/node has no node_modules: run `npm ci` there")

@pytest.mark.browser
def test_in_chromium():
    pytest.skip("no /usr/bin/chromium")

def test_other():
    pytest.skip("not a store test")
"""


@pytest.mark.parametrize("ci,failed,skipped", [("true", 3, 1), ("", 0, 4)])
def test_store_skip_fails_only_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, failed: int, skipped: int
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest("from tests.conftest import pytest_configure, pytest_runtest_makereport")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(SKIPPING_STORE_TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=failed, skipped=skipped)
