# Debian packages per role, sourced by setup.sh (development / CI) and the install scripts, so a node
# never pulls what only HQ or the test suite needs (PostgreSQL, GStreamer, Mosquitto).

NODE_PACKAGES=(
  python3-venv                      # venv for Debian's python3
  espeak-ng                         # offline Vietnamese TTS
  ffmpeg alsa-utils                 # audio decoding, stream relay, aplay
  gpiod                             # gpioset: the amplifier relay
  ca-certificates                   # TLS to the broker / gTTS
)
HQ_PACKAGES=(
  python3-venv
  mosquitto                         # the embedded commune broker (HQ starts it as a child process)
  espeak-ng ffmpeg                  # HQ renders bulletins with the nodes' speech chain
  ca-certificates
)
DEV_PACKAGES=(
  "${NODE_PACKAGES[@]}" "${HQ_PACKAGES[@]}"
  mosquitto-clients sox             # tests and field tools
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp   # RTSP camera simulator
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  postgresql                        # HQ's PostgreSQL tests (the server is started by the fixtures)
  systemd                           # systemd-analyze verify of the units
  chromium                          # web UI tests (Playwright drives this browser; none is downloaded)
)
