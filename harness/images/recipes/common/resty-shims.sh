#!/bin/sh
# Debian installs OpenResty's lua-resty-* libraries as "nginx.*" modules (lua-nginx-redis gives
# nginx/redis.lua). Give each module the name OpenResty uses: resty/redis.lua holds
# `return require "nginx.redis"`, so both names load the same table. Run at image build time.
set -eu
lib=/usr/share/lua/5.1
for pkg in $(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'lua-nginx-*' | awk '$1 == "ii" {print $2}'); do
    for file in $(dpkg -L "$pkg" | grep "^$lib/nginx/.*\.lua\$"); do
        rel=${file#"$lib/nginx/"}
        module=$(echo "${rel%.lua}" | tr / .)
        dest=$lib/resty/$rel
        [ -e "$dest" ] && continue
        mkdir -p "$(dirname "$dest")"
        printf 'return require "nginx.%s"\n' "$module" > "$dest"
        echo "resty.$module -> nginx.$module ($pkg)"
    done
done
