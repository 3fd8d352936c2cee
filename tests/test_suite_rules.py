"""test_suite_rules — rules the test suite keeps for itself: property tests judge answers,
not the speed of a shared machine (speed is measured in bench/)."""

from hypothesis import HealthCheck, settings


def test_property_tests_have_no_deadline_or_slowness_check():
    # conftest.py loads the profile; a test's own @settings keeps these unless it sets them.
    assert settings().deadline is None
    assert HealthCheck.too_slow in settings().suppress_health_check
