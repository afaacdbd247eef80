#!/usr/bin/env bash
# Optional system data used by tests and studies: Debian's real Fashion-MNIST and espeak-ng (spoken digits);
# chromium (headless) renders the docs site for its offline-math test and docs/screenshots (make screenshots).
# Installed when we can (root with apt-get); otherwise the tests that need them skip.
set -u
packages="dataset-fashion-mnist espeak-ng chromium"
missing=""
[ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing system packages:$missing"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null \
    || echo "warning: could not install$missing; tests that need them will skip"
else
  echo "note: $packages not installed (needs root apt-get); tests that need them will skip"
fi
exit 0
