import pytest

from harness.metrics import Metrics

TEXT = """# HELP nginx_http_requests_total Requests by server and status.
# TYPE nginx_http_requests_total counter
nginx_http_requests_total{server="localhost",status="200"} 7
nginx_http_requests_total{server="localhost",status="404"} 2
# TYPE nginx_http_request_duration_seconds histogram
nginx_http_request_duration_seconds_bucket{server="localhost",le="0.005"} 8
nginx_http_request_duration_seconds_bucket{server="localhost",le="+Inf"} 9
nginx_http_request_duration_seconds_sum{server="localhost"} 0.250000
nginx_http_request_duration_seconds_count{server="localhost"} 9
"""


def test_values_by_name_and_label_subsets():
    m = Metrics.parse(TEXT)
    assert m.value("nginx_http_requests_total", status="200") == 7
    assert m.value("nginx_http_requests_total") == 9
    assert m.value("nginx_http_request_duration_seconds_bucket", le="+Inf") == 9
    assert m.value("nginx_http_request_duration_seconds_sum") == pytest.approx(0.25)
    assert m.value("nginx_http_requests_total", status="500") == 0


def test_delta_between_scrapes():
    before = Metrics.parse(TEXT)
    after = Metrics.parse(TEXT.replace('status="200"} 7', 'status="200"} 10'))
    assert after.delta(before, "nginx_http_requests_total", status="200") == 3


def test_text_that_is_not_the_exposition_format_is_rejected():
    with pytest.raises(ValueError):
        Metrics.parse("this is { not metrics\n")
