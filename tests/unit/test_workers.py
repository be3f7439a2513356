from harness.workers import WorkerTable, diff, health

STAT = "{pid} (nginx) {st} {ppid} 1 1 0 -1 4194560 100 0 0 0 {ut} {stt} 0 0 20 0 1 0 {start} 10000000 {rss} 18446744073709551615"


def line(pid, ppid, role, st="S", ut=0, stt=0, start=100, rss=1000, fds=10, nofile="1024"):
    cmd = {"master": "nginx: master process /usr/sbin/nginx -p /harness/", "worker": "nginx: worker process",
           "down": "nginx: worker process is shutting down"}[role]
    return f"{pid}|{STAT.format(pid=pid, st=st, ppid=ppid, ut=ut, stt=stt, start=start, rss=rss)}|{cmd}|{fds}|{nofile}"


def table(*lines, uptime=1000.0):
    return WorkerTable.parse("\n".join([f"clock {uptime} 100", *lines, "garbage line"]))


def test_roles_states_counters_and_limits():
    t = table(line(1, 0, "master"), line(9, 1, "worker", ut=12, stt=1, rss=1200, fds=14),
              line(45, 1, "down", st="R"), line(46, 1, "worker", st="Z", nofile="unlimited"))
    assert t.master.pid == 1
    assert [w.pid for w in t.workers] == [9, 46]
    assert [w.pid for w in t.shutting_down] == [45]
    assert [z.pid for z in t.zombies] == [46]
    w = t.by_pid(9)
    assert (w.ppid, w.state, w.cpu_ticks, w.rss_pages, w.fds, w.nofile) == (1, "S", 13, 1200, 14, 1024)
    assert t.by_pid(46).nofile is None
    assert (t.uptime, t.clk_tck) == (1000.0, 100)


def test_cpu_percent_over_an_interval_skips_reused_pids():
    before = table(line(9, 1, "worker", ut=100), line(10, 1, "worker", ut=0, start=100), uptime=1000.0)
    after = table(line(9, 1, "worker", ut=300), line(10, 1, "worker", ut=50, start=555), uptime=1002.0)
    cpu = after.with_cpu_since(before).cpu_percent
    assert cpu == {9: 100.0}


def test_diff_finds_died_respawned_and_zombies():
    before = table(line(1, 0, "master"), line(9, 1, "worker"), line(10, 1, "worker"))
    after = table(line(1, 0, "master"), line(10, 1, "worker"), line(11, 1, "worker", start=900),
                  line(12, 1, "worker", st="Z"))
    d = diff(before, after)
    assert [p.pid for p in d.died] == [9]
    assert [p.pid for p in d.respawned] == [11, 12]
    assert [p.pid for p in d.zombies] == [12]
    assert not diff(before, before)


def test_health_thresholds_from_the_catalogue():
    big = 600 * 1024 // 4
    t = table(line(9, 1, "worker", rss=big), line(10, 1, "worker", fds=900, nofile="1024"),
              line(11, 1, "worker", st="T"), line(12, 1, "worker", ut=0))
    hot = table(line(12, 1, "worker", ut=195), uptime=1002.0).with_cpu_since(t)
    problems = health(t, cpu_quota=1) + health(hot)
    assert any("worker 9 RSS 600 MB > 500 MB" in p for p in problems)
    assert any("worker 10 has 900 open files > 80% of nofile 1024" in p for p in problems)
    assert any("worker 11 is stopped" in p for p in problems)
    assert any("4 workers for a CPU quota of 1" in p for p in problems)
    assert any("worker 12 at 98% CPU" in p for p in problems)
    assert health(table(line(9, 1, "worker")), cpu_quota=2) == []


def test_format_shows_cpu_and_fds():
    before = table(line(9, 1, "worker", ut=0))
    after = table(line(9, 1, "worker", ut=50), uptime=1001.0).with_cpu_since(before)
    text = after.format()
    assert "worker" in text and "50.0" in text and "10/1024" in text


def test_busy_percent_counts_waiting_for_a_cpu_as_busy():
    """A spinning worker on a crowded host gets half a CPU, yet is runnable all the time."""
    row = line(12, 1, "worker")
    before = WorkerTable.parse(f"clock 100.0 100\n{row}|1000000000 0 5")
    after = WorkerTable.parse(f"clock 101.0 100\n{row}|1500000000 500000000 9")
    table = after.with_cpu_since(before)
    assert table.busy_percent[12] == 100.0
    assert table.workers[0].nofile == 1024 and table.workers[0].run_ns == 1_500_000_000
    assert any("worker 12 at 100% CPU (running or waiting for a CPU)" in p for p in health(table))


def test_zombies_of_retired_workers_are_left_out_and_other_zombies_kept():
    t = table(line(1, 0, "master"), line(9, 1, "worker"), line(7, 1, "worker", st="Z"),
              line(8, 1, "worker", st="Z"))
    assert [z.pid for z in t.without_zombies({7, 9}).zombies] == [8]
    assert t.without_zombies({7, 9}).by_pid(9) is not None  # a live retired pid is not hidden
    assert t.without_zombies(set()) is t
