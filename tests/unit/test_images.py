import shutil
from types import SimpleNamespace

import pytest
from docker.errors import APIError, ImageNotFound

from harness.errors import ImageUnavailable
from harness.images import offline
from harness.images.facts import ImageFacts
from harness.images.profiles import PROFILE_LABEL, openresty_profile
from harness.images.resolver import OFFICIAL, ImageResolver


def test_package_lists_have_the_openresty_twin_parts():
    core = ("nginx", "libnginx-mod-http-lua", "libnginx-mod-http-ndk", "lua-resty-core", "lua-resty-lrucache",
            "lua-cjson", "lua-nginx-redis", "procps")
    trixie = offline.packages("trixie")
    for needed in (*core, "luajit", "lua-nginx-dns", "lua-nginx-string", "lua-nginx-websocket",
                   "libnginx-mod-http-echo", "libnginx-mod-http-headers-more-filter", "libnginx-mod-http-set-misc",
                   "libnginx-mod-http-memc", "libnginx-mod-http-srcache-filter", "libnginx-mod-stream",
                   "redis-server", "python3"):
        assert needed in trixie
    assert set(core) | {"luajit2"} <= set(offline.packages("bookworm"))
    assert not any(p.startswith("#") for p in trixie)


def test_the_twin_setting_picks_the_openresty_release_and_services_stay_on_trixie():
    assert offline.twin_tag("openresty").startswith("openresty-harness/openresty:trixie-")
    assert offline.twin_tag("openresty", "bookworm").startswith("openresty-harness/openresty:bookworm-")
    for kind in ("redis", "tools"):
        assert offline.twin_tag(kind, "bookworm") == offline.twin_tag(kind, "trixie") == offline.image_tag(kind, "trixie")
    with pytest.raises(ImageUnavailable, match="HARNESS_TWIN must be one of trixie, bookworm"):
        offline.twin_tag("openresty", "buster")


def test_tags_are_stable_and_change_with_the_recipe(tmp_path, monkeypatch):
    shutil.copytree(offline.RECIPES, tmp_path / "recipes")
    monkeypatch.setattr(offline, "RECIPES", tmp_path / "recipes")
    before = {k: offline.twin_tag(k) for k in offline.KINDS}
    bookworm = offline.twin_tag("openresty", "bookworm")
    assert before == {k: offline.twin_tag(k) for k in offline.KINDS}
    with (tmp_path / "recipes/trixie/openresty/Dockerfile").open("a") as f:
        f.write("# changed\n")
    assert offline.twin_tag("openresty") != before["openresty"]
    assert offline.twin_tag("redis") == before["redis"]
    assert offline.twin_tag("openresty", "bookworm") == bookworm
    with (tmp_path / "recipes/common/resty-shims.sh").open("a") as f:
        f.write("# changed\n")
    assert offline.twin_tag("openresty", "bookworm") != bookworm
    with (tmp_path / "recipes/trixie/packages.txt").open("a") as f:
        f.write("curl\n")
    assert offline.twin_tag("redis") != before["redis"]
    changed = offline.twin_tag("redis")
    with (tmp_path / "recipes/trixie/stand-ins.txt").open("a") as f:
        f.write("nginx-full\n")
    assert offline.twin_tag("redis") != changed


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
def test_the_stand_in_package_provides_what_trixie_only_pretends_to_have(tmp_path):
    import subprocess

    assert offline.stand_ins("trixie") == ["nginx-extras"] and offline.stand_ins("bookworm") == []
    deb = offline.stand_in_deb(tmp_path, offline.stand_ins("trixie"))
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Provides"], capture_output=True, text=True,
                            check=True).stdout
    assert fields.splitlines() == [f"Package: {offline.STAND_IN}", "Provides: nginx-extras"]


class FakeImages:
    def __init__(self, local, pullable=()):
        self.local, self.pullable, self.pulled = dict(local), set(pullable), []

    def get(self, ref):
        if ref not in self.local:
            raise ImageNotFound(ref)
        return self.local[ref]

    def pull(self, ref):
        self.pulled.append(ref)
        if ref not in self.pullable:
            raise APIError("dial tcp: lookup registry-1.docker.io: no such host")
        return SimpleNamespace(id="sha256:" + "b" * 64, labels={})


def resolver(local, pullable=(), overrides=None, pull=True, twin="trixie"):
    images = FakeImages(local, pullable)
    engine = SimpleNamespace(client=SimpleNamespace(images=images))
    return ImageResolver(engine, overrides, pull=pull, twin=twin), images


def image(profile=None):
    return SimpleNamespace(id="sha256:" + "a" * 64, labels={PROFILE_LABEL: profile} if profile else {})


def test_official_local_image_wins():
    r, images = resolver({OFFICIAL["openresty"]: image()})
    got = r.resolve("openresty")
    assert (got.source, got.profile, images.pulled) == ("official (local)", "official", [])


def test_pulled_official_image_when_not_local():
    r, _ = resolver({}, pullable={OFFICIAL["redis"]})
    assert r.resolve("redis").source == "official (pulled)"


def test_offline_twin_when_pull_fails_and_the_reason_is_kept():
    r, _ = resolver({offline.twin_tag("openresty"): image("trixie")})
    got = r.resolve("openresty")
    assert (got.source, got.profile) == ("offline build", "trixie")
    assert "no such host" in got.note and OFFICIAL["openresty"] in got.note
    assert openresty_profile(got.labels).nginx_bin == "/usr/sbin/nginx"


def test_bookworm_twin_on_request_and_old_debian_label_is_bookworm():
    images = {offline.twin_tag("openresty", "bookworm"): image("debian"), offline.twin_tag("redis"): image("trixie")}
    r, _ = resolver(images, twin="bookworm")
    assert (r.resolve("openresty").ref, r.resolve("openresty").profile) == (
        offline.twin_tag("openresty", "bookworm"), "bookworm")
    assert r.resolve("redis").profile == "trixie"
    with pytest.raises(ImageUnavailable, match="run `make images` with HARNESS_TWIN=bookworm"):
        resolver({}, twin="bookworm")[0].resolve("openresty")


def test_nothing_available_says_run_make_images():
    r, _ = resolver({})
    with pytest.raises(ImageUnavailable) as info:
        r.resolve("openresty")
    assert "run `make images`" in info.value.message and "\n" not in info.value.message


def test_override_missing_names_the_variable():
    r, _ = resolver({}, overrides={"openresty": "mine:1"})
    with pytest.raises(ImageUnavailable, match=r"mine:1 \(from HARNESS_OPENRESTY_IMAGE/--openresty-image\).*unset"):
        r.resolve("openresty")


def test_pull_never_does_not_try():
    r, images = resolver({offline.twin_tag("redis"): image("trixie")}, pull=False)
    assert "HARNESS_PULL=never" in r.resolve("redis").note
    assert images.pulled == []


def test_facts_summary_is_one_line_with_versions():
    facts = ImageFacts(kind="openresty", ref="x:1", id="sha256:" + "c" * 64, source="offline build",
                       profile="bookworm", note="", version="nginx version: nginx/1.22.1\nbuilt with OpenSSL",
                       luajit="LuaJIT 2.1.0-beta3 -- Copyright (C) 2005-2022 Mike Pall.")
    assert facts.summary() == "nginx/1.22.1, LuaJIT 2.1.0-beta3 -- x:1 (offline build, profile bookworm, cccccccccccc)"
