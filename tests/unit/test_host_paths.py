"""Host directories a suite's configs name by absolute path, mounted at that path: only what exists,
never a top-level directory, the image's own places, or what is mounted already."""
from __future__ import annotations

from harness.tnginx.adapter import beside_conf
from harness.tnginx.hostpaths import named_host_dirs


def test_the_directory_holding_a_named_file_is_mounted_at_the_named_path(tmp_path):
    certs = tmp_path / "checkout" / "testcerts"
    certs.mkdir(parents=True)
    (certs / "cert.pem").write_text("pem")
    link = tmp_path / "mount-point"
    link.symlink_to(tmp_path / "checkout")
    text = f'local f = io.open("{link}/testcerts/cert.pem")\nssl_certificate {certs}/cert.pem;'
    assert set(named_host_dirs([text])) == {(str(certs), f"{link}/testcerts"), (str(certs), str(certs))}


def test_nothing_missing_top_level_of_the_image_or_mounted_already_is_mounted(tmp_path):
    inside = tmp_path / "suite" / "t"
    inside.mkdir(parents=True)
    (inside / "a.txt").write_text("x")
    texts = [f"{tmp_path}/absent/file.pem", "/tmp/x.log /usr/share/lua/5.1/x.lua /etc/hosts",
             f"{inside}/a.txt", "/harness/html/x", "$TEST_NGINX_X/a.b"]
    assert named_host_dirs(texts, mounted=[str(tmp_path / "suite")]) == ()



def test_a_directory_nginx_creates_and_writes_is_never_mounted_though_it_exists(tmp_path):
    cache = tmp_path / "run" / "cache"  # left on the host by a prove run
    (cache / "a").mkdir(parents=True)
    temp = tmp_path / "run" / "body"
    temp.mkdir()
    text = (f"proxy_cache_path {cache} levels=1:2 keys_zone=cache:1m;\n"
            f"client_body_temp_path {temp}/;\n# reads {cache}/a too\n")
    assert named_host_dirs([text]) == ()


def test_the_directories_of_t_are_mounted_beside_the_config_but_test_nginxs_server_roots(tmp_path):
    # t/servroot_PID: a suite that sets TEST_NGINX_SERVROOT per process leaves one after each prove run
    # (lua-resty-jwt's checkout had a hundred: a hundred mounts in every container)
    for name in ("cert", "servroot", "servroot_12345", "lib", ".hidden"):
        (tmp_path / "t" / name).mkdir(parents=True)
    assert beside_conf(tmp_path) == ((str(tmp_path / "t" / "cert"), "/cert"),)


def test_pytest_does_not_walk_test_nginxs_server_roots(tmp_path):
    from harness.tnginx.plugin import pytest_ignore_collect

    for name in ("servroot", "servroot_12345", "cert"):
        (tmp_path / "t" / name).mkdir(parents=True)
    (tmp_path / "servroot_1").mkdir()  # not under t/: someone else's directory
    ignored = {p.name for p in [*(tmp_path / "t").iterdir(), tmp_path / "servroot_1"]
               if pytest_ignore_collect(p, None)}  # type: ignore[arg-type]
    assert ignored == {"servroot", "servroot_12345"}
