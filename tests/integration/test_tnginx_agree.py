"""`harness t` gives prove's verdicts where Test::Nginx behaves in a way suites rely on (issue 24):
each file of tests/tnginx/agree/ is a case written for the harness; the verdicts are asserted here
because a block the harness wrongly skips would not fail on its own."""
from pathlib import Path

import pytest

from tests.integration.test_tnginx import harness_t

pytestmark = pytest.mark.integration
AGREE = Path(__file__).resolve().parent.parent / "tnginx" / "agree"


def test_check_accum_error_log_shows_each_repetition_the_lines_before_it(harness_stage, tmp_path):
    code, verdicts, out = harness_t(AGREE / "accum-log.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed"}, out


def test_skip_eval_runs_the_block_when_its_perl_is_false(harness_stage, tmp_path):
    code, verdicts, out = harness_t(AGREE / "skip-eval.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "skipped"}, out


def test_a_peer_reply_given_as_a_perl_sub_is_called_with_the_query(harness_stage, tmp_path):
    """tests/tnginx/agree/peer-sub.t: udp_reply and tcp_reply as Perl subs, called with a query that
    changes at every request (twice each: repeat_each(2)); a string and an array of pieces."""
    code, verdicts, out = harness_t(AGREE / "peer-sub.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed"}, out


def test_a_block_that_looks_at_the_client_address_sees_127_0_0_1(harness_stage, tmp_path):
    """tests/tnginx/agree/client-address.t: $remote_addr, "client: 127.0.0.1" in error.log and the
    X-Forwarded-For a proxy adds, as under Test::Nginx (requests sent from the container's 127.0.0.1,
    a body in two packets with a delay between them)."""
    code, verdicts, out = harness_t(AGREE / "client-address.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed", "TEST 3": "passed"}, out


def test_user_files_at_absolute_paths_and_broken_lua_files_are_test_data(harness_stage, tmp_path):
    """tests/tnginx/agree/user-files.t: a user file named /tmp/... is written there (the config includes
    it); a broken html/*.lua fails the request that loads it (500, its syntax error in error.log)
    instead of stopping the block before it starts; repetition 2 finds the file repetition 1 moved away."""
    code, verdicts, out = harness_t(AGREE / "user-files.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed", "TEST 3": "passed"}, out


def test_a_local_service_is_there_when_the_workers_start(harness_stage, tmp_path):
    """tests/tnginx/agree/init-worker-service.t: init_worker_by_lua's timer connects to memcached at
    127.0.0.1 at once (the companion forwards it before the block's workers start), also from a user
    file that names $TEST_NGINX_MEMCACHED_PORT, and one that reads it with os.getenv (env NAME;)."""
    code, verdicts, out = harness_t(AGREE / "init-worker-service.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed", "TEST 3": "passed"}, out


def test_the_helper_processes_lines_are_the_blocks(harness_stage, tmp_path):
    """tests/tnginx/agree/helpers.t: the cache manager's and loader's lines reach the block's checks."""
    code, verdicts, out = harness_t(AGREE / "helpers.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed"}, out


def test_the_suites_own_lines_in_the_error_log_file_come_first_and_lines_keep_their_newline(harness_stage, tmp_path):
    """tests/tnginx/agree/side-log.t (its verdicts checked against prove): a line the suite writes to
    Test::Nginx's error log file with its own handle comes before nginx's in a grep, and a grep match
    that takes a line's newline is left out; a later repetition (reading from where the last read
    ended) does not see them."""
    code, verdicts, out = harness_t(AGREE / "side-log.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed", "TEST 3": "passed"}, out


def test_an_alert_while_the_config_loads_is_no_refusal_of_the_reload(harness_stage, tmp_path):
    """tests/tnginx/agree/reload-alert.t: lua_code_cache off ([alert] as it loads) with a master busy
    0.3 s after that line, reached by a HUP: the reload is accepted, as nginx accepts it."""
    code, verdicts, out = harness_t(AGREE / "reload-alert.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed"}, out


def test_error_log_file_gets_the_error_log_too(harness_stage, tmp_path):
    """tests/tnginx/agree/error-log-file.t: syslog to a udp_listen peer (udp_query checks the line
    came) while error.log keeps it for error_log; TEST 2's workers log as they start, and the peer
    listens by then (they start again once it does)."""
    code, verdicts, out = harness_t(AGREE / "error-log-file.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed"}, out
