from harness.workers import WorkerTable

LISTING = """\
1|1 (nginx) S 0 1 1 0 -1 4194560 100 0 0 0 3 4 0 0 20 0 1 0 100 10000000 2410 18446744073709551615 ...|nginx: master process /usr/sbin/nginx -p /harness/ -c /harness/conf/nginx.conf
9|9 (nginx) S 1 1 1 0 -1 4194624 50 0 0 0 12 1 0 0 20 0 1 0 120 10000000 1200 18446744073709551615 ...|nginx: worker process
45|45 (nginx) R 1 1 1 0 -1 4194624 50 0 0 0 7 0 0 0 20 0 1 0 130 10000000 1100 18446744073709551615 ...|nginx: worker process is shutting down
77|77 (sh) S 0 77 77 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 140 100000 200 18446744073709551615 ...|sh -c for d in /proc
garbage line
"""


def test_roles_states_and_counters():
    table = WorkerTable.parse(LISTING)
    assert table.master.pid == 1
    assert [w.pid for w in table.workers] == [9]
    assert [w.pid for w in table.shutting_down] == [45]
    worker = table.workers[0]
    assert (worker.ppid, worker.state, worker.utime_ticks, worker.stime_ticks, worker.rss_pages) == (1, "S", 12, 1, 1200)


def test_format_lists_nginx_processes_only():
    text = WorkerTable.parse(LISTING).format()
    assert "master" in text and "shutting-down" in text
    assert "sh -c" not in text
